package credentials_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/send"
)

// managerSecret is a manager of the fixture with its own client secret.
func (f *fixture) managerSecret(t testing.TB, file, secret string) *credentials.Manager {
	t.Helper()
	m, err := credentials.New(credentials.Config{Providers: providerNames,
		File: file, ClientID: clientID, ClientSecret: secret, Keys: key, BaseURL: f.url, Redis: f.rdb, Logger: f.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// outcome sorts the error of Token: "ok", "reauth" (the account needs a
// new credential), "app" (the app is refused, the chain kept) or "kept"
// (a wait with the chain kept).
func outcome(err error) string {
	var reauth *credentials.ReauthError
	var app *credentials.AppRefusedError
	var wait *send.WaitError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &reauth):
		return "reauth"
	case errors.As(err, &app):
		return "app"
	case errors.As(err, &wait):
		return "kept"
	}
	return "error: " + err.Error()
}

func TestOnlyARefusalNamingTheGrantParksTheAccount(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"published 401, no more said", 401, `{"statusCode":401,"message":"Unauthorized","error":"Unauthorized"}`, "app"},
		{"published 401, its example message", 401, `{"statusCode":401,"message":"Invalid token: access token is invalid","error":"Unauthorized"}`, "app"},
		{"published 400 naming the client", 400, `{"statusCode":400,"message":"Invalid client_secret","error":"Bad Request"}`, "app"},
		{"published 400 naming the grant", 400, `{"statusCode":400,"message":"Invalid grant: refresh token is invalid","error":"Bad Request"}`, "reauth"},
		{"published 401 naming the refresh token", 401, `{"statusCode":401,"message":"refresh token expired","error":"Unauthorized"}`, "reauth"},
		{"published 400 that cannot tell", 400, `{"statusCode":400,"message":"Bad Request"}`, "kept"},
		{"published 422, an array", 422, `{"statusCode":422,"message":["user_type must be one of the following values: Company, Location"],"error":"Unprocessable Entity"}`, "kept"},
		{"RFC 6749 invalid_grant", 400, `{"error":"invalid_grant","error_description":"expired"}`, "reauth"},
		{"RFC 6749 invalid_client", 401, `{"error":"invalid_client"}`, "app"},
		{"RFC 6749 invalid_request", 400, `{"error":"invalid_request"}`, "kept"},
		{"not JSON", 400, `<html>Bad Request</html>`, "kept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, time.Hour)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			f.url = srv.URL
			m := f.manager(t, f.write(t, storeEntry("r-1")))
			if got := outcome(func() error { _, err := m.Token(t.Context(), "leadconnector", "store"); return err }()); got != tc.want {
				t.Errorf("%s, want %s", got, tc.want)
			}
		})
	}
}

func TestAWrongClientSecretIsAnOutageOfTheAppAndKeepsEveryChain(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	file := f.write(t, oauthFile(
		"{name: store, provider: leadconnector, location_id: loc1, refresh_token: "+f.sb.Issue(sandbox.UserLocation, "loc1")+"}",
		"{name: shop, provider: leadconnector, location_id: loc2, refresh_token: "+f.sb.Issue(sandbox.UserLocation, "loc2")+"}"))
	ctx := t.Context()
	// An operator's typo in LEADCONNECTOR_CLIENT_SECRET.
	typo := f.managerSecret(t, file, clientSecret+"x")
	for range 5 {
		for _, name := range []string{"store", "shop"} {
			_, err := typo.Token(ctx, "leadconnector", name)
			if got := outcome(err); got != "app" {
				t.Fatalf("account %s with a wrong secret: %s, want a wait for the app", name, got)
			}
		}
	}
	if n := f.redemptions(); n[401] != 1 || len(n) != 1 {
		t.Errorf("token requests by status %v, want one refused: the others wait a minute", n)
	}
	if n := f.logs.FilterMessage("HighLevel's OAuth server refuses the app: check LEADCONNECTOR_CLIENT_ID and LEADCONNECTOR_CLIENT_SECRET; renewals wait, every account keeps its chain").Len(); n != 1 {
		t.Errorf("%d log lines of the app's refusal, want 1", n)
	}
	if n := f.logs.FilterMessage("account needs a new credential in ACCOUNTS_FILE: its sends wait").Len(); n != 0 {
		t.Errorf("%d accounts parked for the app's fault", n)
	}
	if got := gaugeValue(t, typo, "punctual_oauth_app_refused"); got != 1 {
		t.Errorf("punctual_oauth_app_refused = %v, want 1", got)
	}
	list, err := credentials.List(ctx, f.rdb)
	if err != nil || len(list) != 2 || list[0].State != credentials.StateAppRefused || list[1].State != credentials.StateAppRefused {
		t.Errorf("enqueue accounts: %+v, %v; want both app_refused", list, err)
	}
	// The secret corrected, the worker restarted: both chains go on from
	// the file's refresh tokens, never spent.
	fixed := f.manager(t, file)
	for _, name := range []string{"store", "shop"} {
		if tok, err := fixed.Token(ctx, "leadconnector", name); err != nil || !f.sb.Valid(tok) {
			t.Fatalf("account %s after the fix: %v", name, err)
		}
	}
	if list, err = credentials.List(ctx, f.rdb); err != nil || list[0].State != credentials.StateOK || list[1].State != credentials.StateOK {
		t.Errorf("enqueue accounts after the fix: %+v, %v", list, err)
	}
	if n := f.redemptions(); n[200] != 2 || n[400] != 0 {
		t.Errorf("token requests by status %v, want both chains renewed, none refused", n)
	}
}

// gaugeValue returns the value of a gauge of one series the manager collects.
func gaugeValue(t *testing.T, m *credentials.Manager, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestAFractionalExpiresInKeepsTheChain(t *testing.T) {
	t.Parallel()
	f := setup(t, 86399500*time.Millisecond)
	m := f.manager(t, f.write(t, storeEntry(f.sb.Issue(sandbox.UserLocation, "loc1"))))
	tok, err := m.Token(t.Context(), "leadconnector", "store")
	if err != nil || !f.sb.Valid(tok) {
		t.Fatalf("expires_in 86399.5: %v", err)
	}
	f.sb.Expire()
	if tok, err = renewed(t, m, tok); err != nil || !f.sb.Valid(tok) {
		t.Fatalf("renewed: %v", err)
	}
	if n := f.redemptions(); n[200] != 2 || len(n) != 1 {
		t.Errorf("token requests by status %v, want 2 answered 200", n)
	}
}

func TestARefreshTokenInTheWrongEntryIsCaughtAtItsFirstRenewal(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	// loc2's refresh token pasted into loc1's entry.
	m := f.manager(t, f.write(t, storeEntry(f.sb.Issue(sandbox.UserLocation, "loc2"))))
	_, err := m.Token(t.Context(), "leadconnector", "store")
	var reauth *credentials.ReauthError
	if !errors.As(err, &reauth) || !strings.Contains(reauth.Reason, "of location loc2, not loc1") {
		t.Fatalf("%v, want reauth_needed naming the location", err)
	}
	// An agency's refresh token in a location's entry.
	f2 := setup(t, time.Hour)
	m = f2.manager(t, f2.write(t, storeEntry(f2.sb.Issue(sandbox.UserCompany, "co1"))))
	if _, err = m.Token(t.Context(), "leadconnector", "store"); !errors.As(err, &reauth) {
		t.Fatalf("%v, want reauth_needed", err)
	}
}

func TestAnAgencyAccountDoesNotSend(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	m := f.manager(t, f.write(t, oauthFile(
		"{name: agency, provider: leadconnector, company_id: co1, refresh_token: "+f.sb.Issue(sandbox.UserCompany, "co1")+"}",
		"{name: store, provider: leadconnector, agency: agency, location_id: loc7}")))
	_, err := m.Token(t.Context(), "leadconnector", "agency")
	if !errors.Is(err, send.ErrCannotSend) || !strings.Contains(err.Error(), "is an agency (company_id): it mints its locations' tokens and does not send") {
		t.Fatalf("a send of the agency: %v, want it refused naming why", err)
	}
	if tok, err := m.Token(t.Context(), "leadconnector", "store"); err != nil || !f.sb.Valid(tok) {
		t.Fatalf("its location: %v", err)
	}
	if n := f.redemptions(); n[200] != 1 || len(n) != 1 {
		t.Errorf("token requests %v: the agency's token is minted for its location only", n)
	}
}

// failStores fails Redis's writes of a chain (the MULTI that stores a
// renewed token) for a span of time from the first one it fails, as a
// Redis outage during a renewal would.
type failStores struct {
	span  time.Duration
	armed atomic.Bool
	from  atomic.Int64 // unix ns of the first failure; 0 before
}

func (h *failStores) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *failStores) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *failStores) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.armed.Load() && storesChain(cmds) {
			now := time.Now().UnixNano()
			h.from.CompareAndSwap(0, now)
			if time.Duration(now-h.from.Load()) < h.span {
				return errors.New("redis down (test)")
			}
		}
		return next(ctx, cmds)
	}
}

func storesChain(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if c.Name() == "hset" {
			return true
		}
	}
	return false
}

func TestARotatedRefreshTokenSurvivesARedisOutageWhileItIsStored(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	file := f.write(t, storeEntry(f.sb.Issue(sandbox.UserLocation, "loc1")))
	hook := &failStores{span: 21 * time.Second}
	opts := *f.rdb.(*redis.Client).Options()
	flaky := redis.NewClient(&opts)
	flaky.AddHook(hook)
	t.Cleanup(func() { _ = flaky.Close() })
	m, err := credentials.New(credentials.Config{Providers: providerNames, File: file, ClientID: clientID, ClientSecret: clientSecret, Keys: key, BaseURL: f.url, Redis: flaky, Logger: f.log})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	tok, err := m.Token(ctx, "leadconnector", "store")
	if err != nil {
		t.Fatal(err)
	}
	// Redis fails for 21 s right after the OAuth server rotated the
	// refresh token: the renewal's answer cannot be stored.
	hook.armed.Store(true)
	f.sb.Expire()
	if tok, err = renewed(t, m, tok); err != nil || !f.sb.Valid(tok) {
		t.Fatalf("renewed during the outage: %v", err)
	}
	// Redis answers again: the newest token is stored at once, and
	// another replica continues the chain from it.
	for time.Since(time.Unix(0, hook.from.Load())) < hook.span {
		time.Sleep(50 * time.Millisecond)
	}
	keys, err := f.rdb.Keys(ctx, "punctual:credentials:{leadconnector:store}:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the chain's keys: %v, %v", keys, err)
	}
	stored := false
	for deadline := time.Now().Add(3 * time.Second); !stored && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		stored = f.rdb.HGet(ctx, keys[0], "generation").Val() == "2"
	}
	other := f.manager(t, file)
	f.sb.Expire()
	otherTok, err := other.Token(ctx, "leadconnector", "store")
	if err != nil {
		t.Fatal(err)
	}
	if otherTok, err = renewed(t, other, otherTok); err != nil || !f.sb.Valid(otherTok) {
		t.Fatalf("another replica after the outage: %v (token requests %v)", err, f.redemptions())
	}
	if !stored {
		t.Error("the renewed token not stored within 3 s of Redis answering")
	}
	// And the process that renewed during the outage goes on with the
	// chain as the other replica left it.
	if tok, err = m.Token(ctx, "leadconnector", "store"); err != nil {
		t.Fatal(err)
	}
	if tok, err = renewed(t, m, tok); err != nil || !f.sb.Valid(tok) {
		t.Fatalf("the next renewal: %v (token requests %v)", err, f.redemptions())
	}
	if n := f.redemptions(); n[200] != 3 || len(n) != 1 {
		t.Errorf("token requests by status %v, want 3 answered 200: no spent token redeemed", n)
	}
}
