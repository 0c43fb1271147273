package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/testwait"

	"go.uber.org/zap"

	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/send"
)

// otherKey is a second CREDENTIALS_KEY, 32 bytes in base64.
const otherKey = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="

// managerWith is a manager of the fixture's sandbox and Redis with its own
// CREDENTIALS_KEY and logger.
func (f *fixture) managerWith(t testing.TB, file, keys string, log *zap.Logger) *credentials.Manager {
	t.Helper()
	m, err := credentials.New(credentials.Config{Providers: providerNames,
		File: file, ClientID: clientID, ClientSecret: clientSecret, Keys: keys,
		BaseURL: f.url, Redis: f.rdb, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// storeEntry is the accounts file of location loc1 as account store.
func storeEntry(refresh string) string {
	return oauthFile("{name: store, provider: leadconnector, location_id: loc1, refresh_token: " + refresh + "}")
}

// renewed refuses tok, as a 401 does, and returns the token renewed.
func renewed(t *testing.T, m *credentials.Manager, tok string) (string, error) {
	t.Helper()
	if !m.Refused(t.Context(), "leadconnector", "store", tok) {
		t.Fatal("an OAuth token not renewable")
	}
	return m.Token(t.Context(), "leadconnector", "store")
}

// rollout returns a replica on the accounts file of one install of the
// app and one on the file of the next install, each with its token: the
// secret was updated, and kubelet updates each pod's copy in its own time.
// between runs before the second install.
func rollout(t *testing.T, f *fixture, between func()) (stale, fresh *credentials.Manager, staleTok, freshTok string) {
	t.Helper()
	stale = f.manager(t, f.write(t, storeEntry(f.sb.Issue(sandbox.UserLocation, "loc1"))))
	staleTok, err := stale.Token(t.Context(), "leadconnector", "store")
	if err != nil {
		t.Fatal(err)
	}
	between()
	newer := filepath.Join(t.TempDir(), "accounts.yaml")
	writeAt(t, newer, storeEntry(f.sb.Issue(sandbox.UserLocation, "loc1")))
	fresh = f.manager(t, newer)
	if freshTok, err = fresh.Token(t.Context(), "leadconnector", "store"); err != nil {
		t.Fatal(err)
	}
	return stale, fresh, staleTok, freshTok
}

func TestAReplicaStillOnThePreviousFileLeavesTheNewChainAlone(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	stale, fresh, staleTok, freshTok := rollout(t, f, func() {})
	f.sb.Expire()
	// The stale replica's chain was spent by nobody but it: it renews.
	if tok, err := renewed(t, stale, staleTok); err != nil || !f.sb.Valid(tok) {
		t.Fatalf("the replica on the previous file: %v", err)
	}
	// The new chain is intact whatever the stale replica did.
	if tok, err := renewed(t, fresh, freshTok); err != nil || !f.sb.Valid(tok) {
		t.Fatalf("the replica on the new file lost its chain: %v (token requests %v)", err, f.redemptions())
	}
	if n := f.redemptions(); n[200] != 4 || len(n) != 1 {
		t.Errorf("token requests by status %v, want 4 answered 200", n)
	}
}

func TestARevokedReplicaOnThePreviousFileDoesNotParkTheNewCredential(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	stale, fresh, staleTok, freshTok := rollout(t, f, func() { f.sb.Revoke("loc1") })
	var wait *send.WaitError
	if _, err := renewed(t, stale, staleTok); !errors.As(err, &wait) {
		t.Fatalf("the replica on the revoked credential: %v, want a wait", err)
	}
	f.sb.Expire()
	if tok, err := renewed(t, fresh, freshTok); err != nil || !f.sb.Valid(tok) {
		t.Fatalf("the new credential parked by the old one: %v", err)
	}
}

func writeAt(t *testing.T, path, content string) {
	t.Helper()
	f := &fixture{dir: filepath.Dir(path)}
	if got := f.write(t, content); got != path {
		t.Fatalf("written to %s, want %s", got, path)
	}
}

func TestALockHolderThatDiedHoldsTheOthersBackOnlyUntilItsLockLapses(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	m := f.manager(t, f.write(t, storeEntry(f.sb.Issue(sandbox.UserLocation, "loc1"))))
	first, err := m.Token(t.Context(), "leadconnector", "store")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := f.rdb.Keys(t.Context(), "punctual:credentials:{leadconnector:store}*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the chain's keys: %v, %v", keys, err)
	}
	// Another process took the lock and died before asking for a token:
	// its lock lapses.
	if err := f.rdb.Set(t.Context(), keys[0]+":lock", "dead-process", 1500*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	f.sb.Expire()
	m.Refused(t.Context(), "leadconnector", "store", first)
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if tok, err := m.Token(t.Context(), "leadconnector", "store"); err != nil || !f.sb.Valid(tok) {
				t.Errorf("after the lock lapsed: %v", err)
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); took < time.Second {
		t.Errorf("renewed after %s, under another process's lock", took)
	}
	if n := f.redemptions(); n[200] != 2 || len(n) != 1 {
		t.Errorf("token requests by status %v, want the chain renewed once more", n)
	}
}

func TestAChainLastsAsLongAsARefreshToken(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	m := f.manager(t, f.write(t, storeEntry(f.sb.Issue(sandbox.UserLocation, "loc1"))))
	if _, err := m.Token(t.Context(), "leadconnector", "store"); err != nil {
		t.Fatal(err)
	}
	keys, err := f.rdb.Keys(t.Context(), "punctual:credentials:{*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the chain's keys: %v, %v", keys, err)
	}
	// HighLevel's refresh tokens last a year: an account idle for 91 days
	// still renews.
	ttl, err := f.rdb.PTTL(t.Context(), keys[0]).Result()
	if err != nil || ttl < 365*24*time.Hour || ttl > 366*24*time.Hour {
		t.Errorf("the chain's TTL %s (%v), want a year", ttl, err)
	}
}

func TestAnAnswerLostAfterTheRotationParksTheAccountWithoutALoop(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	m := f.manager(t, f.write(t, storeEntry(f.sb.Issue(sandbox.UserLocation, "loc1"))))
	f.sb.LoseAnswers(1)
	_, err := m.Token(t.Context(), "leadconnector", "store")
	var reauth *credentials.ReauthError
	if err == nil || errors.As(err, &reauth) {
		t.Fatalf("with the answer lost: %v, want an error to try again", err)
	}
	for range 20 {
		_, err = m.Token(t.Context(), "leadconnector", "store")
		if !errors.As(err, &reauth) {
			t.Fatalf("after the answer lost: %v, want reauth_needed", err)
		}
	}
	if n := f.redemptions(); n[0] != 1 || n[400] != 1 || len(n) != 2 {
		t.Errorf("token requests by status %v, want one unanswered and one invalid_grant", n)
	}
	if f.logs.FilterMessage("renewing a token got no answer: its refresh token may be spent").Len() != 1 {
		t.Error("no warning that the chain may be lost")
	}
	if f.logs.FilterMessage("account needs a new credential in ACCOUNTS_FILE: its sends wait").Len() != 1 {
		t.Error("not one alert line")
	}
}

func TestATokenRefusedRightAfterItsRenewalParksTheAccountOnEveryReplica(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	file := f.write(t, storeEntry(f.sb.Issue(sandbox.UserLocation, "loc1")))
	m, other := f.manager(t, file), f.manager(t, file)
	ctx := t.Context()
	first, err := m.Token(ctx, "leadconnector", "store")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Token(ctx, "leadconnector", "store"); err != nil {
		t.Fatal(err)
	}
	// The app lost a scope: the API refuses every token, new ones too.
	f.sb.Forbid("loc1")
	second, err := renewed(t, m, first)
	if err != nil {
		t.Fatal(err)
	}
	m.Rejected(ctx, "leadconnector", "store", second)
	var reauth *credentials.ReauthError
	for _, p := range []*credentials.Manager{m, other} {
		for range 5 {
			tok, err := p.Token(ctx, "leadconnector", "store")
			if err != nil {
				if !errors.As(err, &reauth) {
					t.Fatalf("%v, want a wait for a new credential", err)
				}
				continue
			}
			// The other replica's token is refused in its turn.
			p.Refused(ctx, "leadconnector", "store", tok)
		}
	}
	if n := f.redemptions(); n[200] != 2 || len(n) != 1 {
		t.Errorf("token requests by status %v, want 2: the account not renewed again at once", n)
	}
	list, err := credentials.List(ctx, f.rdb)
	if err != nil || len(list) != 1 || list[0].State != credentials.StateReauth {
		t.Errorf("List: %+v, %v; want the account reauth_needed", list, err)
	}
	keys, err := f.rdb.Keys(ctx, "punctual:credentials:{leadconnector:store}:*:hold").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("hold keys %v, %v", keys, err)
	}
	if ttl := f.rdb.PTTL(ctx, keys[0]).Val(); ttl < 4*time.Minute || ttl > 5*time.Minute {
		t.Errorf("renewed again in %s, want after 5 minutes", ttl)
	}
	if n := f.logs.FilterMessage("account needs a new credential in ACCOUNTS_FILE: its sends wait").Len(); n != 2 {
		t.Errorf("%d alert lines, want one per replica", n)
	}
}

func TestCredentialsKeyRotatesAndAWrongOneWaitsNamingIt(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	file := f.write(t, storeEntry(f.sb.Issue(sandbox.UserLocation, "loc1")))
	ctx := t.Context()
	old := f.managerWith(t, file, key, f.log)
	tok, err := old.Token(ctx, "leadconnector", "store")
	if err != nil {
		t.Fatal(err)
	}
	// A replica deployed with another key only: its sends wait, naming
	// the variable, and the chain stays for the replicas with the key.
	wrong := f.managerWith(t, file, otherKey, f.log)
	_, err = wrong.Token(ctx, "leadconnector", "store")
	var wait *send.WaitError
	if !errors.As(err, &wait) || !strings.Contains(err.Error(), "CREDENTIALS_KEY") {
		t.Fatalf("with a wrong key: %v, want a wait naming CREDENTIALS_KEY", err)
	}
	if n := f.redemptions(); n[200] != 1 || len(n) != 1 {
		t.Fatalf("token requests by status %v: the wrong key redeemed", n)
	}
	// Rotation: the new key first, the old one after it, reads the chain
	// as it is, then seals the next generation with the new key...
	rotated := f.managerWith(t, file, otherKey+","+key, f.log)
	if got, err := rotated.Token(ctx, "leadconnector", "store"); err != nil || got != tok {
		t.Fatalf("with the old key second: %v, want the token in Redis", err)
	}
	f.sb.Expire()
	if tok, err = renewed(t, rotated, tok); err != nil || !f.sb.Valid(tok) {
		t.Fatal(err)
	}
	// ...which the new key alone opens.
	if got, err := f.managerWith(t, file, otherKey, f.log).Token(ctx, "leadconnector", "store"); err != nil || got != tok {
		t.Fatalf("with the new key alone: %v", err)
	}
	alerts := 0
	for _, e := range f.logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, key) || strings.Contains(line, otherKey) {
			t.Errorf("a log line with a key: %s", e.Message)
		}
		if strings.Contains(line, "reason:CREDENTIALS_KEY: sealed with a key not in CREDENTIALS_KEY") {
			alerts++
		}
	}
	if alerts != 1 {
		t.Errorf("%d alert lines naming CREDENTIALS_KEY, want 1", alerts)
	}
}

func TestABadCredentialsKeyIsNamedNeverShown(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"c2Vrcml0", key + ",sekrit-key-text", "sekrit"} {
		_, err := credentials.New(credentials.Config{Providers: providerNames, Keys: bad})
		if err == nil || !strings.HasPrefix(err.Error(), "CREDENTIALS_KEY: key ") || strings.Contains(err.Error(), "sekrit") || strings.Contains(err.Error(), "c2Vrcml0") {
			t.Errorf("CREDENTIALS_KEY %q: %v", bad, err)
		}
	}
}

func TestAnOAuthServerEchoingTheTokenDoesNotPutItAnywhere(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	const refresh = "eyJhbGciOi.sekrit-refresh_9f8e"
	// A server that names the token in its answer, as some do in
	// error or error_description, or HighLevel's message.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		tok := r.PostForm.Get("refresh_token")
		fmt.Fprintf(w, `{"statusCode":400,"error":%q,"message":"bad token %s","error_description":"bad token %s"}`, tok, tok, tok)
	}))
	t.Cleanup(echo.Close)
	f.url = echo.URL
	m := f.manager(t, f.write(t, storeEntry(refresh)))
	_, err := m.Token(t.Context(), "leadconnector", "store")
	// The answer cannot tell whose fault it is: the account waits, its
	// chain kept.
	var wait *send.WaitError
	var reauth *credentials.ReauthError
	if !errors.As(err, &wait) || errors.As(err, &reauth) {
		t.Fatalf("%v, want a wait, not reauth_needed", err)
	}
	if strings.Contains(err.Error(), "sekrit") || !strings.Contains(err.Error(), "not shown") {
		t.Errorf("the error shows the token, or does not say it is hidden: %v", err)
	}
	for _, e := range f.logs.All() {
		if line := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(line, "sekrit") {
			t.Errorf("a log line with the token: %s", line)
		}
	}
	scanRedis(t, f.rdb, []string{"sekrit"})
	list, err := credentials.List(t.Context(), f.rdb)
	if err != nil || len(list) != 1 || strings.Contains(list[0].Reason, "sekrit") || list[0].State == credentials.StateReauth {
		t.Errorf("List: %+v, %v", list, err)
	}
}

func TestAFileCutShortMidWriteDoesNotEndTheSendsOfTheAccountsItLacks(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	full := oauthFile("{name: a, provider: mateo, token: tok-a}", "{name: b, provider: mateo, token: tok-b}")
	file := f.write(t, full)
	m := f.manager(t, file)
	// Rewritten in place, and read when half of it is written: the half
	// is a good file of account a alone.
	half := full[:strings.Index(full, "  - {name: b")]
	if err := os.WriteFile(file, []byte(half), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	var wait *send.WaitError
	if _, err := m.Token(t.Context(), "mateo", "b"); !errors.As(err, &wait) || errors.Is(err, send.ErrNoAccount) {
		t.Fatalf("account b, a moment gone: %v, want a wait", err)
	}
	if err := os.WriteFile(file, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if tok, err := m.Token(t.Context(), "mateo", "b"); err != nil || tok != "tok-b" {
		t.Fatalf("account b back: %q, %v", tok, err)
	}
	// An account removed for good ends its sends once the grace is over.
	if err := os.WriteFile(file, []byte(half), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "met", func() bool {
		_, err := m.Token(t.Context(), "mateo", "b")
		return errors.Is(err, send.ErrNoAccount)
	})
}

// secretDir lays out path as Kubernetes mounts a secret: path is a link
// to ..data/<name>, and ..data a link to a directory of the version.
// It returns a function that swaps in a new version atomically.
func secretDir(t *testing.T, content string) (path string, swap func(string)) {
	t.Helper()
	dir := t.TempDir()
	version := 0
	swap = func(content string) {
		version++
		v := fmt.Sprintf("..version_%d", version)
		if err := os.Mkdir(filepath.Join(dir, v), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, v, "accounts.yaml"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(v, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	swap(content)
	path = filepath.Join(dir, "accounts.yaml")
	if err := os.Symlink(filepath.Join("..data", "accounts.yaml"), path); err != nil {
		t.Fatal(err)
	}
	return path, swap
}

func TestASecretSwappedAsKubernetesDoesAndSIGHUPReload(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	path, swap := secretDir(t, oauthFile("{name: a, provider: mateo, token: tok-a}"))
	m := f.manager(t, path)
	// No signal kills the test process while the watch is starting.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	t.Cleanup(func() { signal.Stop(hup) })
	ctx, stop := context.WithCancel(t.Context())
	watched := make(chan struct{})
	go func() { defer close(watched); m.Watch(ctx) }()
	t.Cleanup(func() { stop(); <-watched })

	swapped := time.Time{}
	version := 1
	testwait.For(t, 10*time.Second, "met", func() bool {
		if time.Since(swapped) > 300*time.Millisecond {
			version++
			swap(oauthFile(fmt.Sprintf("{name: a, provider: mateo, token: tok-a%d}", version)))
			swapped = time.Now()
		}
		tok, err := m.Token(t.Context(), "mateo", "a")
		return err == nil && tok != "tok-a"
	})
	// SIGHUP reloads a file whose change the watch did not see: here, one
	// rewritten behind the links, in the version's directory itself.
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte(oauthFile("{name: a, provider: mateo, token: tok-hup}")), 0o600); err != nil {
		t.Fatal(err)
	}
	signalled := time.Time{}
	testwait.For(t, 10*time.Second, "met", func() bool {
		if time.Since(signalled) > 300*time.Millisecond {
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			signalled = time.Now()
		}
		tok, err := m.Token(t.Context(), "mateo", "a")
		return err == nil && tok == "tok-hup"
	})
}
