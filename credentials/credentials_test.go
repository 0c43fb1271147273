package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/testwait"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/send"
	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/window"
)

// providerNames are the providers an accounts file of the tests may name.
var providerNames = builtin.Registry().Names()

const (
	clientID     = "app-id"
	clientSecret = "app-secret-3f9d"
	// key is CREDENTIALS_KEY: 32 bytes in base64.
	key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
)

func TestParseFileNamesTheEntryAndFieldNeverTheSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, want string
	}{
		{"no name", `{"accounts":[{"provider":"mateo","token":"sekrit-1"}]}`, `accounts[0] "": name: want letters`},
		{"bad provider", "accounts:\n  - name: a\n    provider: mailchimp\n    token: sekrit-1\n", `accounts[0] "a": provider: want one of mateo, leadconnector, got "mailchimp"`},
		{"two credentials", "accounts:\n  - name: a\n    provider: leadconnector\n    token: sekrit-1\n    refresh_token: sekrit-2\n", `accounts[0] "a": want exactly one of token, refresh_token`},
		{"no credential", `{"accounts":[{"name":"a","provider":"mateo"}]}`, `accounts[0] "a": want exactly one of`},
		{"oauth without location", `{"accounts":[{"name":"a","provider":"leadconnector","refresh_token":"sekrit-2"}]}`, `accounts[0] "a": location_id or company_id: want one of them with refresh_token`},
		{"oauth for mateo", `{"accounts":[{"name":"a","provider":"mateo","refresh_token":"sekrit-2","location_id":"l"}]}`, `accounts[0] "a": provider: OAuth is for leadconnector only`},
		{"agency without location", `{"accounts":[{"name":"a","provider":"leadconnector","agency":"b"}]}`, `accounts[0] "a": location_id: required with agency`},
		{"second entry", `{"accounts":[{"name":"a","provider":"mateo","token":"sekrit-1"},{"name":"b","provider":"mateo","token":"sekrit 3"}]}`, `accounts[1] "b": token or refresh_token: contains white space`},
		{"unknown field", "accounts:\n  - name: a\n    provider: mateo\n    tokn: sekrit-1\n", `line 4: field tokn not found`},
		{"wrong type", "accounts:\n  - name: a\n    provider: mateo\n    token: [sekrit-1]\n", `line 4: cannot unmarshal !!seq into string`},
		{"bad JSON", `{"accounts":[{"name":"a","token":"sekrit-1",}]}`, `not valid JSON`},
		{"window zone", "accounts:\n  - name: a\n    provider: mateo\n    token: sekrit-1\n    window: {tz: Mars/Olympus, from: \"08:00\", to: \"21:00\"}\n", `accounts[0] "a": window.tz: unknown time zone "Mars/Olympus"`},
		{"window day", `{"accounts":[{"name":"a","provider":"mateo","token":"sekrit-1","window":{"tz":"UTC","days":"fry","from":"08:00","to":"21:00"}}]}`, `accounts[0] "a": window.days: unknown day "fry"`},
		{"window name", `{"accounts":[{"name":"a","provider":"mateo","token":"sekrit-1","window":"quiet hours"}]}`, `accounts[0] "a": window: not a window name`},
		{"agency window", "accounts:\n  - {name: a, provider: leadconnector, company_id: co1, refresh_token: sekrit-2, window: tcpa}\n", `accounts[0] "a": window: an agency (company_id) sends nothing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := credentials.ParseFile([]byte(tc.file), providerNames)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "sekrit") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

func TestParseFileReadsEachKind(t *testing.T) {
	t.Parallel()
	yaml := `accounts:
  - {name: default, provider: mateo, token: m-1}
  - {name: store-1, provider: leadconnector, refresh_token: r-1, location_id: loc1}
  - {name: agency, provider: leadconnector, refresh_token: r-2, company_id: co1}
  - {name: store-2, provider: leadconnector, agency: agency, location_id: loc2}
  - name: sms
    provider: mateo
    token: m-2
    window: {tz: auto, days: mon-sat, from: 08:00, to: 21:00}
  - {name: office, provider: mateo, token: m-3, window: tcpa}
`
	got, err := credentials.ParseFile([]byte(yaml), providerNames)
	if err != nil {
		t.Fatal(err)
	}
	want := []credentials.Account{
		{Provider: "mateo", Name: "default", Kind: credentials.KindToken, Token: "m-1"},
		{Provider: "leadconnector", Name: "store-1", Kind: credentials.KindOAuth, RefreshToken: "r-1", LocationID: "loc1"},
		{Provider: "leadconnector", Name: "agency", Kind: credentials.KindAgency, RefreshToken: "r-2", CompanyID: "co1"},
		{Provider: "leadconnector", Name: "store-2", Kind: credentials.KindAgencyLocation, Agency: "agency", LocationID: "loc2"},
		{Provider: "mateo", Name: "sms", Kind: credentials.KindToken, Token: "m-2", Window: tasks.Window{Spec: window.Spec{TZ: "auto", Days: "mon-sat", From: "08:00", To: "21:00"}}},
		{Provider: "mateo", Name: "office", Kind: credentials.KindToken, Token: "m-3", Window: tasks.Window{Name: "tcpa"}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// fixture is a sandbox playing HighLevel's OAuth and a Redis.
type fixture struct {
	sb   *sandbox.Server
	url  string
	rdb  redis.UniversalClient
	dir  string
	logs *observer.ObservedLogs
	log  *zap.Logger
}

func setup(t testing.TB, lifetime time.Duration) *fixture {
	t.Helper()
	sb := sandbox.New(sandbox.Config{OAuth: &sandbox.OAuth{ClientID: clientID, ClientSecret: clientSecret, Lifetime: lifetime}})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	core, logs := observer.New(zapcore.DebugLevel)
	return &fixture{sb: sb, url: srv.URL, rdb: rdb, dir: t.TempDir(), logs: logs, log: zap.New(core)}
}

// write replaces the accounts file, as a Kubernetes secret update does:
// a new file renamed over the old.
func (f *fixture) write(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(f.dir, "accounts.yaml")
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (f *fixture) manager(t testing.TB, file string) *credentials.Manager {
	t.Helper()
	m, err := credentials.New(credentials.Config{Providers: providerNames,
		File: file, ClientID: clientID, ClientSecret: clientSecret, Keys: key,
		BaseURL: f.url, Redis: f.rdb, Logger: f.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// redemptions counts the answers of POST /oauth/token by status.
func (f *fixture) redemptions() map[int]int {
	n := map[int]int{}
	for _, r := range f.sb.Requests() {
		if r.Path == "/oauth/token" {
			n[r.Status]++
		}
	}
	return n
}

func oauthFile(accounts ...string) string {
	var b strings.Builder
	b.WriteString("accounts:\n")
	for _, a := range accounts {
		b.WriteString("  - " + a + "\n")
	}
	return b.String()
}

func TestTwoProcessesRedeemEachRefreshTokenOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	file := f.write(t, oauthFile("{name: store, provider: leadconnector, location_id: loc1, refresh_token: "+f.sb.Issue(sandbox.UserLocation, "loc1")+"}"))
	a, b := f.manager(t, file), f.manager(t, file)
	ctx := t.Context()

	const generations = 4
	for gen := 1; gen <= generations; gen++ {
		// Every access token stops working at once, as a day going by
		// would: both processes, 16 sends each, get 401s and renew.
		if gen > 1 {
			f.sb.Expire()
		}
		var wg sync.WaitGroup
		for i := range 32 {
			m := []*credentials.Manager{a, b}[i%2]
			wg.Go(func() {
				for {
					tok, err := m.Token(ctx, "leadconnector", "store")
					if err != nil {
						t.Error(err)
						return
					}
					if f.sb.Valid(tok) {
						return
					}
					if !m.Refused(ctx, "leadconnector", "store", tok) {
						t.Error("an OAuth token not renewable")
						return
					}
				}
			})
		}
		wg.Wait()
		if n := f.redemptions(); n[200] != gen || len(n) != 1 {
			t.Fatalf("generation %d: token requests by status %v, want %d answered 200 and no other", gen, n, gen)
		}
	}
	scanRedis(t, f.rdb, append(f.sb.Tokens(), clientSecret))
	for _, e := range f.logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		for _, s := range append(f.sb.Tokens(), clientSecret) {
			if strings.Contains(line, s) {
				t.Errorf("log line with a secret: %s", line)
			}
		}
	}
}

func TestAnAccountRenewsAheadOfExpiry(t *testing.T) {
	t.Parallel()
	f := setup(t, 2*time.Second)
	file := f.write(t, oauthFile("{name: store, provider: leadconnector, location_id: loc1, refresh_token: "+f.sb.Issue(sandbox.UserLocation, "loc1")+"}"))
	m := f.manager(t, file)
	first, err := m.Token(t.Context(), "leadconnector", "store")
	if err != nil {
		t.Fatal(err)
	}
	// A token is renewed a fifth of its lifetime before it expires, so a
	// send never goes out with one about to.
	deadline := time.Now().Add(2 * time.Second)
	for {
		tok, err := m.Token(t.Context(), "leadconnector", "store")
		if err != nil {
			t.Fatal(err)
		}
		if !f.sb.Valid(tok) {
			t.Fatal("Token gave an expired token")
		}
		if tok != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not renewed before its expiry")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := f.redemptions(); n[200] != 2 {
		t.Errorf("token requests %v, want 2", n)
	}
}

// revokedReason is why an account whose refresh token the OAuth server
// refuses, naming the grant, waits for a new one.
const revokedReason = "400 Invalid grant: refresh token is invalid"

func TestARevokedAccountWaitsForANewCredential(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	entry := "{name: store, provider: leadconnector, location_id: loc1, refresh_token: %s}"
	file := f.write(t, oauthFile(fmt.Sprintf(entry, f.sb.Issue(sandbox.UserLocation, "loc1"))))
	m := f.manager(t, file)
	ctx := t.Context()
	tok, err := m.Token(ctx, "leadconnector", "store")
	if err != nil {
		t.Fatal(err)
	}
	f.sb.Revoke("loc1")
	m.Refused(ctx, "leadconnector", "store", tok)
	for range 3 {
		_, err = m.Token(ctx, "leadconnector", "store")
		var wait *send.WaitError
		var reauth *credentials.ReauthError
		if !errors.As(err, &wait) || wait.Failure || !errors.As(err, &reauth) || reauth.Reason != revokedReason {
			t.Fatalf("error %v, want a wait for a new credential (%s)", err, revokedReason)
		}
	}
	if n := f.redemptions(); n[400] != 1 || len(n) != 2 {
		t.Errorf("token requests %v, want the revoked one tried once", n)
	}
	if alerts := f.logs.FilterMessage("account needs a new credential in ACCOUNTS_FILE: its sends wait").Len(); alerts != 1 {
		t.Errorf("%d alert lines, want 1", alerts)
	}
	list, err := credentials.List(ctx, f.rdb)
	if err != nil || len(list) != 1 || list[0].State != credentials.StateReauth || list[0].Reason != revokedReason {
		t.Errorf("List: %+v, %v", list, err)
	}

	// A new install: the file gives a new refresh token, and the watch
	// reloads it. The file is written again until the watch, started
	// meanwhile, sees it.
	watchCtx, stop := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); m.Watch(watchCtx) }()
	t.Cleanup(func() { stop(); <-watched })
	written := time.Time{}
	testwait.For(t, 10*time.Second, "met", func() bool {
		if time.Since(written) > 300*time.Millisecond {
			f.write(t, oauthFile(fmt.Sprintf(entry, f.sb.Issue(sandbox.UserLocation, "loc1"))))
			written = time.Now()
		}
		tok, err := m.Token(ctx, "leadconnector", "store")
		return err == nil && f.sb.Valid(tok)
	})
	if f.logs.FilterMessage("account credential replaced: its sends resume").Len() != 1 {
		t.Error("no log line for the account's return")
	}
}

func TestABadFileIsRefusedWholeAndTheAccountsInForceStay(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	file := f.write(t, oauthFile("{name: a, provider: mateo, token: tok-a}"))
	m := f.manager(t, file)
	f.write(t, oauthFile("{name: a, provider: mateo, token: tok-a2}", "{name: b, provider: leadconnector, agency: nobody, location_id: l}"))
	err := m.Reload(t.Context())
	if err == nil || !strings.Contains(err.Error(), `accounts[1] "b": agency: "nobody" is not an agency account`) {
		t.Fatalf("error %v", err)
	}
	if tok, err := m.Token(t.Context(), "mateo", "a"); err != nil || tok != "tok-a" {
		t.Errorf("account a: %q, %v; want the token in force", tok, err)
	}
	if _, err := m.Token(t.Context(), "mateo", "b"); !errors.Is(err, send.ErrNoAccount) {
		t.Errorf("account b: %v, want ErrNoAccount", err)
	}
}

// scanRedis fails the test when any key or value holds one of secrets.
func scanRedis(t *testing.T, rdb redis.UniversalClient, secrets []string) {
	t.Helper()
	text, err := redistest.Text(t.Context(), rdb)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range text {
		for _, s := range secrets {
			if strings.Contains(v, s) {
				t.Errorf("key %s holds a secret in plain text", k)
			}
		}
	}
}

func TestAnAgencyMintsItsLocationsTokens(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	file := f.write(t, oauthFile(
		"{name: agency, provider: leadconnector, company_id: co1, refresh_token: "+f.sb.Issue(sandbox.UserCompany, "co1")+"}",
		"{name: store, provider: leadconnector, agency: agency, location_id: loc7}"))
	m := f.manager(t, file)
	ctx := t.Context()
	tok, err := m.Token(ctx, "leadconnector", "store")
	if err != nil || !f.sb.Valid(tok) {
		t.Fatalf("location token: %v", err)
	}
	// A day later both tokens are refused: the location's token is minted
	// again, with the agency's renewed once on the way.
	f.sb.Expire()
	if !m.Refused(ctx, "leadconnector", "store", tok) {
		t.Fatal("an agency location's token not renewable")
	}
	if tok, err = m.Token(ctx, "leadconnector", "store"); err != nil || !f.sb.Valid(tok) {
		t.Fatalf("location token after expiry: %v", err)
	}
	var got []string
	for _, r := range f.sb.Requests() {
		got = append(got, fmt.Sprint(r.Path, " ", r.Status))
	}
	want := "[/oauth/token 200 /oauth/locationToken 200 /oauth/locationToken 401 /oauth/token 200 /oauth/locationToken 200]"
	if fmt.Sprint(got) != want {
		t.Errorf("requests %v\nwant %s", got, want)
	}
	// The agency uninstalls the app: the location waits for a new credential.
	f.sb.Revoke("co1")
	m.Refused(ctx, "leadconnector", "store", tok)
	var wait *send.WaitError
	if _, err := m.Token(ctx, "leadconnector", "store"); !errors.As(err, &wait) || wait.Failure {
		t.Errorf("after the agency's revocation: %v, want a wait", err)
	}
}

func TestAnAccountsWindowIsThatOfItsEntry(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "accounts.json")
	if err := os.WriteFile(path, []byte(`{"accounts":[{"name":"sms","provider":"mateo","token":"m-1","window":"tcpa"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := credentials.New(credentials.Config{Providers: providerNames, File: path, Static: map[string]map[string]string{"mateo": {"default": "m-0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Window("mateo", "sms"); got != (tasks.Window{Name: "tcpa"}) {
		t.Errorf("the file's account has window %+v, want tcpa", got)
	}
	for _, name := range []string{"default", "unknown"} {
		if got := m.Window("mateo", name); !got.IsZero() {
			t.Errorf("account %s has window %+v, want none", name, got)
		}
	}
}
