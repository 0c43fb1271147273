package worker_test

// Helpers of the tests of the promises a send keeps (promises_*_test.go):
// a token endpoint the test slows or holds, and the provider's messages as
// the sandbox received them.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
)

// tokenGate serves the sandbox, and lets the test hold back LeadConnector's
// token endpoint (POST /oauth/token): hold is called with the number of
// each token request, the first being 1, before the sandbox answers it.
type tokenGate struct {
	sb *sandbox.Server

	mu   sync.Mutex
	n    int
	hold func(n int, r *http.Request)
}

func (g *tokenGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth/token" {
		g.mu.Lock()
		g.n++
		n, hold := g.n, g.hold
		g.mu.Unlock()
		if hold != nil {
			hold(n, r)
		}
	}
	g.sb.ServeHTTP(w, r)
}

// setHold makes hold hold back the token requests from now on.
func (g *tokenGate) setHold(hold func(n int, r *http.Request)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold = hold
}

// slowFor holds a request back for d, or until its client goes away: a
// slow token endpoint.
func slowFor(r *http.Request, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-r.Context().Done():
	}
}

// oauthStore runs a worker whose LeadConnector account "store" is an OAuth
// one (storeFile) with access tokens of lifetime, its token endpoint
// behind the returned gate. The worker's other accounts are setup's.
func oauthStore(t *testing.T, lifetime time.Duration, extra map[string]string) (*env, *tokenGate) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "accounts.yaml")
	sb := oauthSandbox(t, sandbox.Config{}, lifetime, path, storeFile)
	gate := &tokenGate{sb: sb}
	srv := httptest.NewServer(gate)
	t.Cleanup(srv.Close)
	environ := oauthEnv(path)
	environ["LEADCONNECTOR_BASE_URL"] = srv.URL // the API and its OAuth server
	for k, v := range extra {
		environ[k] = v
	}
	return setupWith(t, sb, environ), gate
}

// lcMessages returns the requests the sandbox received at LeadConnector's
// messages endpoint, in order.
func lcMessages(sb *sandbox.Server) []sandbox.Request {
	var out []sandbox.Request
	for _, r := range sb.Requests() {
		if r.Path == "/conversations/messages" {
			out = append(out, r)
		}
	}
	return out
}

// statuses lists the statuses of reqs, for messages.
func statuses(reqs []sandbox.Request) []int {
	out := make([]int, len(reqs))
	for i, r := range reqs {
		out[i] = r.Status
	}
	return out
}

// tokenRequests counts the requests the token endpoint answered.
func tokenRequests(sb *sandbox.Server) int {
	n := 0
	for _, r := range sb.Requests() {
		if r.Path == "/oauth/token" {
			n++
		}
	}
	return n
}

// resultOf describes a task's stored result, for messages.
func resultOf(s *producer.Status) string {
	if s.Result == nil {
		return "no result"
	}
	return fmt.Sprintf("result: %s %d %s", s.Result.Provider, s.Result.Status, s.Result.Response)
}

// waitChan waits for ch to be closed, failing the test after within.
func waitChan(t *testing.T, ch <-chan struct{}, within time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(within):
		t.Fatalf("%s: not within %s", what, within)
	}
}

// waitStateIn polls the task until its state is one of states, and
// returns its status.
func (e *env) waitStateIn(t *testing.T, id string, within time.Duration, states ...string) *producer.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, err := e.producer.Status(context.Background(), id)
		if err == nil {
			for _, st := range states {
				if string(s.State) == st {
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s not in %v within %s: %+v (err %v)", id, states, within, s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
