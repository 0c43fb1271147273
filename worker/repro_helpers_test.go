//go:build repro || pipeline

package worker_test

// Helpers of the reproductions of issue 22 (promises_*_test.go): a token
// endpoint the test slows or holds, a worker whose Config the test
// adjusts, and the provider's messages as the sandbox received them.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/tracing"
	"github.com/punctualhq/punctual/worker"
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
				if s.State == st {
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

// setupTweaked runs a worker as setupWith does, with its Config adjusted
// by tweak before the worker is built: for settings the environment does
// not carry yet.
func setupTweaked(t *testing.T, sb *sandbox.Server, extra map[string]string, tweak func(*worker.Config)) *env {
	t.Helper()
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	environ := map[string]string{
		"MATEO_BASE_URL":         srv.URL + "/api/v1",
		"MATEO_TOKEN":            mateoToken,
		"MATEO_ACCOUNTS":         "acme=" + acmeToken + ",beta=" + betaToken,
		"LEADCONNECTOR_BASE_URL": srv.URL,
		"LEADCONNECTOR_TOKEN":    lcToken,
		"WORKER_CONCURRENCY":     "64",
		"SHUTDOWN_TIMEOUT":       "2s",
		"HTTP_ADDR":              "127.0.0.1:0",
		"RATE_LIMITS":            "off",
	}
	for k, v := range extra {
		environ[k] = v
	}
	if environ["REDIS_URL"] == "" {
		environ["REDIS_URL"] = "redis://" + redistest.Start(t).Addr + "/0"
	}
	wcfg, err := config.LoadFrom(environ)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := wcfg.RedisConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	log := zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, core) })))
	wc, err := wcfg.Worker(senders.WithRoundTripper(tracing.Propagate))
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(&wc)
	}
	w, err := worker.New(wc, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	p := producer.New(conn, producer.WithMaxRetry(3))
	t.Cleanup(func() { _ = p.Close() })
	ins := asynq.NewInspector(conn)
	t.Cleanup(func() { _ = ins.Close() })
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rdb.Close() })
	return &env{worker: w, stop: stop, rdb: rdb, producer: p, sandbox: sb, inspector: ins, logs: logs}
}
