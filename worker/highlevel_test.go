package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/testwait"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/credentials/accountindex"
	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/sandbox"
)

// highLevel is a sandbox playing HighLevel's OAuth with access tokens of
// lifetime, and an accounts file for it: location loc1 as store, location
// loc2 as shop, agency co1 as agency and its location loc3 as branch.
func highLevel(t *testing.T, lifetime time.Duration) (*sandbox.Server, string) {
	t.Helper()
	sb := sandbox.New(sandbox.Config{OAuth: &sandbox.OAuth{ClientID: oauthClientID, ClientSecret: oauthClientSecret, Lifetime: lifetime}})
	path := filepath.Join(t.TempDir(), "accounts.yaml")
	writeFile(t, path, fmt.Sprintf(`accounts:
  - {name: store, provider: leadconnector, location_id: loc1, refresh_token: %s}
  - {name: shop, provider: leadconnector, location_id: loc2, refresh_token: %s}
  - {name: agency, provider: leadconnector, company_id: co1, refresh_token: %s}
  - {name: branch, provider: leadconnector, agency: agency, location_id: loc3}
`, sb.Issue(sandbox.UserLocation, "loc1"), sb.Issue(sandbox.UserLocation, "loc2"), sb.Issue(sandbox.UserCompany, "co1")))
	return sb, path
}

// sendsOf enqueues n LeadConnector sends, due now, spread over accounts.
func (e *env) sendsOf(t *testing.T, n int, accounts ...string) []string {
	t.Helper()
	return enqueueEach(t, e.producer, n, func(i int) string {
		return fmt.Sprintf(`{"type":"leadconnector:send_message","account":%q,"payload":{"type":"SMS","contactId":"c%d","message":"Hi"}}`, accounts[i%len(accounts)], i)
	})
}

func TestAWrongClientSecretThenTheRightOneKeepsEveryChain(t *testing.T) {
	t.Parallel()
	sb, path := highLevel(t, time.Hour)
	environ := oauthEnv(path)
	environ["LEADCONNECTOR_CLIENT_SECRET"] = oauthClientSecret + "-typo"
	typo := setupWith(t, sb, environ)
	ids := typo.sendsOf(t, 20, "store", "shop", "branch")
	testwait.For(t, 20*time.Second, "met", func() bool {
		return typo.logs.FilterMessage("HighLevel's OAuth server refuses the app: check LEADCONNECTOR_CLIENT_ID and LEADCONNECTOR_CLIENT_SECRET; renewals wait, every account keeps its chain").Len() == 1
	})
	for _, id := range ids {
		if s := typo.waitState(t, id, "retry", 10*time.Second); s.Retried != 0 {
			t.Errorf("task %s: %d attempts spent on the app's outage", id, s.Retried)
		}
	}
	_, metrics := get(t, "http://"+typo.worker.HealthAddr()+"/metrics", "", "")
	if !strings.Contains(metrics, "punctual_oauth_app_refused 1") {
		t.Error("no punctual_oauth_app_refused 1 in /metrics")
	}
	list, err := credentials.List(context.Background(), typo.rdb)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Kind != credentials.KindToken && a.State != credentials.StateAppRefused {
			t.Errorf("enqueue accounts: %s is %s, want app_refused", a.Name, a.State)
		}
	}
	// The secret corrected, the worker restarted.
	typo.stop()
	environ = oauthEnv(path)
	environ["REDIS_URL"] = "redis://" + typo.rdb.(*redis.Client).Options().Addr + "/0"
	fixed := setupWith(t, sb, environ)
	fixed.waitDone(t, ids, 30*time.Second)
	fixed.sentOnce(t, ids)
	if list, err = credentials.List(context.Background(), fixed.rdb); err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.State != credentials.StateOK {
			t.Errorf("enqueue accounts after the fix: %s is %s (%s), want ok", a.Name, a.State, a.Reason)
		}
	}
	for _, r := range sb.Requests() {
		if r.Path == leadconnector.PathToken && r.Status == http.StatusBadRequest {
			t.Error("a refresh token was presented spent: a chain was lost")
		}
	}
}

// TestEveryRequestToHighLevelIsAsPublished sends as a location, as an
// agency's location and across a renewal, and checks every request the
// worker made against HighLevel's published operations: the path, the
// Version each takes, the token, the body's schema.
func TestEveryRequestToHighLevelIsAsPublished(t *testing.T) {
	t.Parallel()
	sb := sendAcrossARenewal(t, time.Hour)
	paths := map[string]int{}
	for i, r := range sb.Requests() {
		paths[r.Path]++
		where := fmt.Sprintf("request %d, %s %s", i, r.Method, r.Path)
		if err := published(r); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
	if paths[leadconnector.PathToken] < 2 || paths[leadconnector.PathLocationToken] < 2 {
		t.Errorf("requests by path %v: the renewals were not tried", paths)
	}
}

// published checks a request against HighLevel's published operation.
func published(r sandbox.Request) error {
	if r.Method != http.MethodPost {
		return fmt.Errorf("method %s", r.Method)
	}
	form := func(schema jsonvalue.Object) error {
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			return fmt.Errorf("Content-Type %q", ct)
		}
		v, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return err
		}
		return leadconnector.CheckForm(schema, v)
	}
	bearer := strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
	version := r.Header.Get("Version")
	switch r.Path {
	case "/conversations/messages":
		if version != "2021-04-15" || !bearer || r.Header.Get("Content-Type") != "application/json" {
			return fmt.Errorf("Version %q, a bearer token %t, Content-Type %q", version, bearer, r.Header.Get("Content-Type"))
		}
		return jsonvalue.Validate(leadconnector.SendMessageSchema, "body", r.Body)
	case leadconnector.PathToken:
		if version != "" || bearer {
			return fmt.Errorf("Version %q, a bearer token %t: the operation takes neither", version, bearer)
		}
		return form(leadconnector.TokenRequestSchema)
	case leadconnector.PathLocationToken:
		if version != "2021-07-28" || !bearer {
			return fmt.Errorf("Version %q, a bearer token %t", version, bearer)
		}
		return form(leadconnector.LocationTokenRequestSchema)
	}
	return fmt.Errorf("not an operation the worker makes")
}

func TestASendOfAnAgencyAccountIsRefused(t *testing.T) {
	t.Parallel()
	sb, path := highLevel(t, time.Hour)
	e := setupWith(t, sb, oauthEnv(path))
	agencySend := `{"type":"leadconnector:send_message","account":"agency","payload":{"type":"SMS","contactId":"c1","message":"Hi"}}`
	// The producer can tell from the accounts the workers list.
	_, err := e.producer.EnqueueJSON(context.Background(), []byte(agencySend))
	if err == nil || !strings.Contains(err.Error(), `account: leadconnector account "agency" is an agency (company_id)`) {
		t.Fatalf("enqueue: %v, want the agency refused", err)
	}
	// Where it cannot (the workers' list gone), the worker refuses it.
	if err := e.rdb.Del(context.Background(), accountindex.Key).Err(); err != nil {
		t.Fatal(err)
	}
	blind := producer.NewFromClient(e.rdb)
	res, err := blind.EnqueueJSON(context.Background(), []byte(agencySend))
	if err != nil {
		t.Fatal(err)
	}
	s := e.waitState(t, res.ID, "archived", 10*time.Second)
	if !strings.Contains(s.LastError, `account "agency"`) {
		t.Errorf("last error %q", s.LastError)
	}
	for _, r := range sb.Requests() {
		if r.Path == "/conversations/messages" {
			t.Error("a message sent with an agency's token")
		}
	}
}

func TestAFractionalExpiresInKeepsEverySendGoing(t *testing.T) {
	t.Parallel()
	sendAcrossARenewal(t, 86399500*time.Millisecond)
}

// sendAcrossARenewal runs a worker against highLevel's sandbox and sends
// as a location and as an agency's location, before and after every
// access token expires: each send must go once, and no token request be
// refused.
func sendAcrossARenewal(t *testing.T, lifetime time.Duration) *sandbox.Server {
	t.Helper()
	sb, path := highLevel(t, lifetime)
	e := setupWith(t, sb, oauthEnv(path))
	ids := e.sendsOf(t, 6, "store", "branch")
	e.waitDone(t, ids, 20*time.Second)
	sb.Expire()
	more := e.sendsOf(t, 6, "store", "branch")
	e.waitDone(t, more, 20*time.Second)
	e.sentOnce(t, append(ids, more...))
	e.redeemed(t)
	return sb
}
