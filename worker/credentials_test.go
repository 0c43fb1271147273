package worker_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/testwait"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/sandbox"
)

const (
	oauthClientID     = "app-id"
	oauthClientSecret = "app-secret-77c1"
	credentialsKey    = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
)

// oauthSetup runs a worker whose accounts come from a file, against a
// sandbox playing HighLevel's OAuth with access tokens of lifetime.
func oauthSetup(t *testing.T, lifetime time.Duration, file string, cfg sandbox.Config) (*env, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "accounts.yaml")
	e := setupWith(t, oauthSandbox(t, cfg, lifetime, path, file), oauthEnv(path))
	return e, path
}

// oauthEnv is the environment of a worker whose accounts are in path.
func oauthEnv(path string) map[string]string {
	return map[string]string{
		"ACCOUNTS_FILE": path, "LEADCONNECTOR_CLIENT_ID": oauthClientID, "LEADCONNECTOR_CLIENT_SECRET": oauthClientSecret,
		"CREDENTIALS_KEY": credentialsKey, "WORKER_CONCURRENCY": "8",
	}
}

// redeemed counts the tokens the sandbox gave, failing t on any token
// request it refused: a refresh token redeemed twice is refused.
func (e *env) redeemed(t *testing.T) int {
	t.Helper()
	n := 0
	for _, r := range e.sandbox.Requests() {
		switch {
		case r.Path == "/oauth/token" && r.Status == http.StatusOK:
			n++
		case r.Path == "/oauth/token":
			t.Errorf("a token request answered %d", r.Status)
		}
	}
	return n
}

// oauthSandbox returns the sandbox, with the accounts file written: file
// may name {{loc1}}, replaced by a refresh token of location loc1.
func oauthSandbox(t *testing.T, cfg sandbox.Config, lifetime time.Duration, path, file string) *sandbox.Server {
	t.Helper()
	cfg.OAuth = &sandbox.OAuth{ClientID: oauthClientID, ClientSecret: oauthClientSecret, Lifetime: lifetime}
	sb := sandbox.New(cfg)
	writeFile(t, path, strings.ReplaceAll(file, "{{loc1}}", sb.Issue(sandbox.UserLocation, "loc1")))
	return sb
}

// writeFile replaces path, as a secret update does: a new file renamed over it.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

const storeFile = "accounts:\n  - {name: store, provider: leadconnector, location_id: loc1, refresh_token: {{loc1}}}\n"

// lcSends enqueues n LeadConnector sends of account store, spread over
// spread, and returns their ids.
func (e *env) lcSends(t *testing.T, n int, spread time.Duration) []string {
	t.Helper()
	return enqueueEach(t, e.producer, n, func(i int) string {
		at, _ := dueIn(time.Duration(i) * spread / time.Duration(n))
		return `{"type":"leadconnector:send_message","account":"store","process_at":"` + at + `","payload":{"type":"SMS","contactId":"c` + fmt.Sprint(i) + `","message":"Hi"}}`
	})
}

// sentOnce fails the test unless each task completed, and the sandbox
// took n messages.
func (e *env) sentOnce(t *testing.T, ids []string) {
	t.Helper()
	for _, id := range ids {
		if s, err := e.producer.Status(context.Background(), id); err != nil || s.State != "completed" {
			t.Errorf("task %s: %+v (%v), want completed", id, s, err)
		}
	}
	e.tookAll(t, "/conversations/messages", ids)
}

// noSecrets fails the test when a token the sandbox issued, or the app's
// secret, is in plain text in a Redis key or value, a log line or a metric.
func (e *env) noSecrets(t *testing.T) {
	t.Helper()
	secrets := append(e.sandbox.Tokens(), oauthClientSecret)
	text, err := redistest.Text(context.Background(), e.rdb)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, v := range text {
		seen = append(seen, "redis key "+v)
	}
	for _, l := range e.logs.All() {
		seen = append(seen, fmt.Sprint("log line: ", l.Message, l.ContextMap()))
	}
	resp, err := http.Get("http://" + e.worker.HealthAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	seen = append(seen, "metrics: "+string(metrics))
	if !strings.Contains(string(metrics), `punctual_accounts{kind="oauth",provider="leadconnector",state="ok"} 1`) {
		t.Error("no punctual_accounts gauge of the OAuth account")
	}
	for _, text := range seen {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("a secret in plain text: %.120s", text)
			}
		}
	}
}

func TestSendsGoOnAcrossTokenLifetimes(t *testing.T) {
	t.Parallel()
	e, _ := oauthSetup(t, 2*time.Second, storeFile, sandbox.Config{})
	ids := e.lcSends(t, 40, 7*time.Second)
	e.waitDone(t, ids, 30*time.Second)
	e.sentOnce(t, ids)
	if redeemed := e.redeemed(t); redeemed < 4 {
		t.Errorf("%d tokens over 7 s of 2 s tokens, want at least 4", redeemed)
	}
	e.noSecrets(t)
}

// TestTwoWorkersRenewEachTokenOnce runs two worker instances on one Redis
// and one provider while 2 s tokens expire under a steady load: each
// refresh token is redeemed once (a second redemption would be refused
// with invalid_grant), and every send goes once.
func TestTwoWorkersRenewEachTokenOnce(t *testing.T) {
	t.Parallel()
	e, path := oauthSetup(t, 2*time.Second, storeFile, sandbox.Config{})
	environ := oauthEnv(path)
	environ["REDIS_URL"] = "redis://" + e.rdb.(*redis.Client).Options().Addr + "/0"
	other := setupWith(t, e.sandbox, environ)
	ids := e.lcSends(t, 60, 7*time.Second)
	e.waitDone(t, ids, 30*time.Second)
	e.sentOnce(t, ids)
	if redeemed := e.redeemed(t); redeemed < 4 {
		t.Errorf("%d tokens over 7 s of 2 s tokens, want at least 4", redeemed)
	}
	for _, w := range []*env{e, other} {
		if w.logs.FilterMessage("sent").Len() == 0 {
			t.Error("a worker sent nothing: the test did not share the load")
		}
	}
}

func TestARefusedTokenIsRenewedAndTheSendTriedAtOnce(t *testing.T) {
	t.Parallel()
	e, _ := oauthSetup(t, time.Hour, storeFile, sandbox.Config{})
	first := e.lcSends(t, 1, 0)
	e.waitDone(t, first, 10*time.Second)
	// A day goes by: the token the worker holds is refused.
	e.sandbox.Expire()
	second := e.lcSends(t, 1, 0)
	s := e.waitState(t, second[0], "completed", 10*time.Second)
	if s.Retried != 0 {
		t.Errorf("retried %d, want the 401 to spend no attempt", s.Retried)
	}
	var statuses []int
	for _, r := range e.sandbox.Requests() {
		statuses = append(statuses, r.Status)
	}
	// token, message; then message refused, token, message again.
	if fmt.Sprint(statuses) != "[200 200 401 200 200]" {
		t.Errorf("statuses %v, want a refused send renewed and sent at once", statuses)
	}
}

func TestARevokedAccountWaitsAndACorrectedFileReleasesItsSends(t *testing.T) {
	t.Parallel()
	e, path := oauthSetup(t, time.Hour, storeFile, sandbox.Config{})
	e.sandbox.Revoke("loc1")
	ids := e.lcSends(t, 6, 0)
	testwait.For(t, 20*time.Second, "met", func() bool {
		return e.logs.FilterMessage("account needs a new credential in ACCOUNTS_FILE: its sends wait").Len() == 1
	})
	for _, id := range ids {
		s := e.waitState(t, id, "retry", 10*time.Second)
		if s.Retried != 0 {
			t.Errorf("task %s retried %d, want a wait that spends no attempt", id, s.Retried)
		}
	}
	for _, r := range e.sandbox.Requests() {
		if r.Path == "/conversations/messages" {
			t.Fatal("a send of an account waiting for a credential was tried")
		}
	}
	if w := waitingOf(t, e, "store"); w != int64(len(ids)) {
		t.Errorf("enqueue accounts shows %d sends waiting, want %d", w, len(ids))
	}
	// The app installed again: a new refresh token in the file.
	rewrite(t, path, func() string {
		return strings.ReplaceAll(storeFile, "{{loc1}}", e.sandbox.Issue(sandbox.UserLocation, "loc1"))
	}, func() bool { return e.logs.FilterMessage("account credential replaced: its sends resume").Len() > 0 })
	e.waitDone(t, ids, 20*time.Second)
	e.sentOnce(t, ids)
	if n := e.logs.FilterMessage("account needs a new credential in ACCOUNTS_FILE: its sends wait").Len(); n != 1 {
		t.Errorf("%d alert lines, want 1", n)
	}
	if w := waitingOf(t, e, "store"); w != 0 {
		t.Errorf("enqueue accounts shows %d sends waiting once all are sent, want 0", w)
	}
}

// waitingOf is the sends waiting for the LeadConnector account's
// credential, as `enqueue accounts` lists them.
func waitingOf(t *testing.T, e *env, account string) int64 {
	t.Helper()
	list, err := credentials.List(context.Background(), e.rdb)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Provider == "leadconnector" && a.Name == account {
			return a.Waiting
		}
	}
	t.Fatalf("no leadconnector account %q in %+v", account, list)
	return 0
}

func TestAThousandAccountsReloadedWhileSendsRun(t *testing.T) {
	t.Parallel()
	file := func(version int) string {
		var b strings.Builder
		b.WriteString("accounts:\n  - {name: store, provider: leadconnector, location_id: loc1, refresh_token: {{loc1}}}\n")
		for i := range 999 {
			fmt.Fprintf(&b, "  - {name: m%d, provider: mateo, token: tok-%d-%d}\n", i, version, i)
		}
		return b.String()
	}
	e, path := oauthSetup(t, time.Hour, file(0), sandbox.Config{})
	ids := enqueueEach(t, e.producer, 200, func(i int) string {
		at, _ := dueIn(time.Duration(i) * 15 * time.Millisecond)
		return fmt.Sprintf(`{"type":"mateo:send_message","account":"m%d","process_at":"%s","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi"}}`, i*5, at)
	})
	reloaded := func() int { return e.logs.FilterMessage("accounts reloaded").Len() }
	for v := 1; v <= 5; v++ {
		// The store's chain goes on: its refresh token in the file is kept.
		rewrite(t, path, func() string { return strings.ReplaceAll(file(v), "{{loc1}}", "unchanged") }, func() bool { return reloaded() >= v })
	}
	e.waitDone(t, ids, 30*time.Second)
	e.tookAll(t, "/api/v1/send_message", ids)
	for _, id := range ids {
		if s, err := e.producer.Status(context.Background(), id); err != nil || s.State != "completed" {
			t.Errorf("task %s: %+v (%v), want completed", id, s, err)
		}
	}
}

// rewrite writes content() to path until done: the worker's watch of the
// file starts with it, and may miss a write made before.
func rewrite(t *testing.T, path string, content func() string, done func() bool) {
	t.Helper()
	written := time.Time{}
	testwait.For(t, 20*time.Second, "met", func() bool {
		if time.Since(written) > 500*time.Millisecond {
			writeFile(t, path, content())
			written = time.Now()
		}
		return done()
	})
}

// tookAll checks that the sandbox took one message at path for each of ids.
func (e *env) tookAll(t *testing.T, path string, ids []string) {
	t.Helper()
	took := 0
	for _, r := range e.sandbox.Requests() {
		if r.Path == path && r.Status == http.StatusOK {
			took++
		}
	}
	if took != len(ids) {
		t.Errorf("the provider took %d messages, want %d", took, len(ids))
	}
}
