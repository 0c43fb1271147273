package sandbox_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/sandbox"
)

const (
	from      = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
	mateoTok  = "tok-mateo"
	otherTok  = "tok-other"
	lcTok     = "tok-lc"
	smsBody   = `{"type":"SMS","contactId":"c1","message":"Hi"}`
	mateoBody = `{"from":"` + from + `","to":[{"handle":"ana@example.com"}],"text":"Hi"}`
)

// setup starts the sandbox configured by cfg behind an httptest server.
func setup(t *testing.T, cfg sandbox.Config) (*sandbox.Server, *httptest.Server) {
	t.Helper()
	sb := sandbox.New(cfg)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return sb, srv
}

// mateoHeader is the header of a good Mateo request with token.
func mateoHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
}

// lcHeader is the header of a good LeadConnector request with token.
func lcHeader(token string) http.Header {
	h := mateoHeader(token)
	h.Set("Version", "2021-04-15")
	return h
}

// with returns a copy of h with key set to value, or removed when value is empty.
func with(h http.Header, key, value string) http.Header {
	h = h.Clone()
	h.Del(key)
	if value != "" {
		h.Set(key, value)
	}
	return h
}

// answer is a response read to the end.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
}

// try sends one request; its error is the client's (no answer).
func try(t *testing.T, srv *httptest.Server, method, target string, h http.Header, body string) (answer, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	start := time.Now()
	resp, err := srv.Client().Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b, elapsed: time.Since(start)}, nil
}

// send sends one request and fails the test when no answer comes.
func send(t *testing.T, srv *httptest.Server, method, target string, h http.Header, body string) answer {
	t.Helper()
	a, err := try(t, srv, method, target, h, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return a
}

// check checks an answer's status and that its body is the JSON want.
func (a answer) check(t *testing.T, status int, want string) {
	t.Helper()
	if a.status != status {
		t.Errorf("status %d, want %d (body %s)", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	sameJSON(t, a.body, want)
}

// expect checks an answer's status and, unless body is empty, that its
// body is the JSON body.
func (a answer) expect(t *testing.T, status int, body string) {
	t.Helper()
	if body != "" {
		a.check(t, status, body)
		return
	}
	if a.status != status {
		t.Errorf("status %d, want %d (body %s)", a.status, status, a.body)
	}
}

// sameJSON checks that got and want hold the same JSON value.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}
}

// mateoError is Mateo's error body.
func mateoError(status int, code, message string) string {
	return fmt.Sprintf(`{"code":%q,"message":%q,"hint":null,"status":%d}`, code, message, status)
}

// lcError is LeadConnector's error body.
func lcError(status int, message string) string {
	return fmt.Sprintf(`{"statusCode":%d,"message":%q,"error":%q}`, status, message, http.StatusText(status))
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	known := sandbox.Config{
		Tokens: map[string]map[string]string{
			mateo.Name:         {mateoTok: "default", otherTok: "acme"},
			leadconnector.Name: {lcTok: "default"},
		},
	}
	mateo := func(auth string) call {
		return call{"POST", "/api/v1/send_message", with(mateoHeader(""), "Authorization", auth), mateoBody}
	}
	lc := func(auth string) call {
		return call{"POST", "/conversations/messages", with(lcHeader(""), "Authorization", auth), smsBody}
	}
	mateo401 := mateoError(401, "unauthorized", "invalid or missing bearer token")
	lc401 := lcError(401, "invalid or missing bearer token")
	for _, tc := range []struct {
		name   string
		cfg    sandbox.Config
		call   call
		status int
		body   string // the error body; empty for a 200
	}{
		{"mateo without token", known, mateo(""), 401, mateo401},
		{"mateo unknown token", known, mateo("Bearer tok-unknown"), 401, mateo401},
		{"mateo empty bearer", known, mateo("Bearer "), 401, mateo401},
		{"mateo basic auth", known, mateo("Basic " + mateoTok), 401, mateo401},
		{"mateo token of leadconnector", known, mateo("Bearer " + lcTok), 401, mateo401},
		{"mateo known token", known, mateo("Bearer " + mateoTok), 200, ""},
		{"mateo another known token", known, mateo("Bearer " + otherTok), 200, ""},
		{"mateo any token when none configured", sandbox.Config{}, mateo("Bearer whatever"), 200, ""},
		{"mateo no token when none configured", sandbox.Config{}, mateo(""), 401, mateo401},
		{"leadconnector without token", known, lc(""), 401, lc401},
		{"leadconnector unknown token", known, lc("Bearer tok-unknown"), 401, lc401},
		{"leadconnector token of mateo", known, lc("Bearer " + mateoTok), 401, lc401},
		{"leadconnector known token", known, lc("Bearer " + lcTok), 200, ""},
		{"leadconnector any token when none configured", sandbox.Config{}, lc("Bearer whatever"), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := setup(t, tc.cfg)
			tc.call.send(t, srv).expect(t, tc.status, tc.body)
		})
	}
}

// call is a request to send.
type call struct {
	method, target string
	header         http.Header
	body           string
}

func (c call) send(t *testing.T, srv *httptest.Server) answer {
	t.Helper()
	return send(t, srv, c.method, c.target, c.header, c.body)
}

func TestContentType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		call   call
		status int
		body   string // the error body; empty for a 200
	}{
		{"mateo without Content-Type",
			call{"POST", "/api/v1/send_message", with(mateoHeader(mateoTok), "Content-Type", ""), mateoBody},
			415, mateoError(415, "unsupported_media_type", "Content-Type must be application/json")},
		{"mateo text/plain",
			call{"POST", "/api/v1/send_message", with(mateoHeader(mateoTok), "Content-Type", "text/plain"), mateoBody},
			415, mateoError(415, "unsupported_media_type", "Content-Type must be application/json")},
		{"mateo PATCH without Content-Type",
			call{"PATCH", "/api/v1/conversation?id=eq." + from, with(mateoHeader(mateoTok), "Content-Type", ""), `{"status":"open"}`},
			415, mateoError(415, "unsupported_media_type", "Content-Type must be application/json")},
		{"mateo with charset",
			call{"POST", "/api/v1/send_message", with(mateoHeader(mateoTok), "Content-Type", "application/json; charset=utf-8"), mateoBody},
			200, ""},
		{"leadconnector without Content-Type",
			call{"POST", "/conversations/messages", with(lcHeader(lcTok), "Content-Type", ""), smsBody},
			415, lcError(415, "Content-Type must be application/json")},
		{"leadconnector without Version",
			call{"POST", "/conversations/messages", with(lcHeader(lcTok), "Version", ""), smsBody},
			400, lcError(400, "version header is required")},
		{"leadconnector with the location token's Version",
			call{"POST", "/conversations/messages", with(lcHeader(lcTok), "Version", "2021-07-28"), smsBody},
			400, lcError(400, "version header: want 2021-04-15 for this endpoint")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := setup(t, sandbox.Config{})
			tc.call.send(t, srv).expect(t, tc.status, tc.body)
		})
	}
}

// limitHeaders are the rate-limit headers each provider sends.
var limitHeaders = map[string][]string{
	mateo.Name: {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"},
	leadconnector.Name: {
		"X-RateLimit-Max", "X-RateLimit-Remaining", "X-RateLimit-Interval-Milliseconds",
		"X-RateLimit-Limit-Daily", "X-RateLimit-Daily-Remaining",
	},
}

// checkLimitHeaders checks a provider's rate-limit headers, in the order
// of limitHeaders.
func checkLimitHeaders(t *testing.T, provider string, h http.Header, want ...string) {
	t.Helper()
	var got []string
	for _, name := range limitHeaders[provider] {
		got = append(got, h.Get(name))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %q, want %q", limitHeaders[provider], got, want)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	mateoSend := call{"POST", "/api/v1/send_message", mateoHeader(mateoTok), mateoBody}
	lcSend := call{"POST", "/conversations/messages", lcHeader(lcTok), smsBody}
	mateo429 := mateoError(429, "rate_limited", "Too Many Requests")
	lc429 := lcError(429, "Too Many Requests")
	type step struct {
		status  int
		headers []string
	}
	for _, tc := range []struct {
		name     string
		cfg      sandbox.Config
		provider string
		call     call
		steps    []step
		body429  string
	}{
		{
			name: "mateo per second", cfg: sandbox.Config{Limits: map[string]sandbox.Limit{mateo.Name: sandbox.Limit{Count: 2, Period: time.Second}}},
			provider: mateo.Name, call: mateoSend, body429: mateo429,
			steps: []step{{200, []string{"2", "1", "1"}}, {200, []string{"2", "0", "1"}}, {429, []string{"2", "0", "1"}}},
		},
		{
			name:     "mateo per second and day",
			cfg:      sandbox.Config{Limits: map[string]sandbox.Limit{mateo.Name: sandbox.Limit{Count: 2, Period: time.Minute, Daily: 10000}}},
			provider: mateo.Name, call: mateoSend, body429: mateo429,
			steps: []step{{200, []string{"2", "1", "60"}}, {200, []string{"2", "0", "60"}}, {429, []string{"2", "0", "60"}}},
		},
		{
			// The daily window has the least room: the headers describe it.
			name:     "mateo daily",
			cfg:      sandbox.Config{Limits: map[string]sandbox.Limit{mateo.Name: sandbox.Limit{Count: 5, Period: time.Minute, Daily: 2}}},
			provider: mateo.Name, call: mateoSend, body429: mateo429,
			steps: []step{{200, []string{"2", "1", "86400"}}, {200, []string{"2", "0", "86400"}}, {429, []string{"2", "0", "86400"}}},
		},
		{
			name:     "mateo daily only",
			cfg:      sandbox.Config{Limits: map[string]sandbox.Limit{mateo.Name: sandbox.Limit{Daily: 1}}},
			provider: mateo.Name, call: mateoSend, body429: mateo429,
			steps: []step{{200, []string{"1", "0", "86400"}}, {429, []string{"1", "0", "86400"}}},
		},
		{
			name:     "leadconnector per interval",
			cfg:      sandbox.Config{Limits: map[string]sandbox.Limit{leadconnector.Name: sandbox.Limit{Count: 2, Period: 10 * time.Second, Daily: 200000}}},
			provider: leadconnector.Name, call: lcSend, body429: lc429,
			steps: []step{
				{200, []string{"2", "1", "10000", "200000", "199999"}},
				{200, []string{"2", "0", "10000", "200000", "199998"}},
				{429, []string{"2", "0", "10000", "200000", "199998"}},
			},
		},
		{
			name:     "leadconnector daily",
			cfg:      sandbox.Config{Limits: map[string]sandbox.Limit{leadconnector.Name: sandbox.Limit{Count: 5, Period: 10 * time.Second, Daily: 2}}},
			provider: leadconnector.Name, call: lcSend, body429: lc429,
			steps: []step{
				{200, []string{"5", "4", "10000", "2", "1"}},
				{200, []string{"5", "3", "10000", "2", "0"}},
				{429, []string{"5", "3", "10000", "2", "0"}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := setup(t, tc.cfg)
			for _, s := range tc.steps {
				a := tc.call.send(t, srv)
				if s.status == http.StatusTooManyRequests {
					a.expect(t, s.status, tc.body429)
				} else {
					a.expect(t, s.status, "")
				}
				checkLimitHeaders(t, tc.provider, a.header, s.headers...)
			}
			// The limits are per token: another token has its own.
			other := tc.call
			other.header = with(other.header, "Authorization", "Bearer "+otherTok)
			if a := other.send(t, srv); a.status != http.StatusOK {
				t.Errorf("another token: status %d, want 200 (body %s)", a.status, a.body)
			}
		})
	}
}

func TestRateLimitWindow(t *testing.T) {
	t.Parallel()
	_, srv := setup(t, sandbox.Config{Limits: map[string]sandbox.Limit{mateo.Name: sandbox.Limit{Count: 1, Period: 300 * time.Millisecond}}})
	mateoSend := call{"POST", "/api/v1/send_message", mateoHeader(mateoTok), mateoBody}
	if a := mateoSend.send(t, srv); a.status != http.StatusOK {
		t.Fatalf("first request: status %d, want 200", a.status)
	}
	if a := mateoSend.send(t, srv); a.status != http.StatusTooManyRequests {
		t.Fatalf("second request: status %d, want 429", a.status)
	}
	time.Sleep(350 * time.Millisecond)
	a := mateoSend.send(t, srv)
	if a.status != http.StatusOK {
		t.Fatalf("after the window: status %d, want 200 (body %s)", a.status, a.body)
	}
	checkLimitHeaders(t, mateo.Name, a.header, "1", "0", "1")
}

func TestNoLimit(t *testing.T) {
	t.Parallel()
	_, srv := setup(t, sandbox.Config{})
	for _, c := range []call{
		{"POST", "/api/v1/send_message", mateoHeader(mateoTok), mateoBody},
		{"POST", "/conversations/messages", lcHeader(lcTok), smsBody},
	} {
		for range 5 {
			a := c.send(t, srv)
			if a.status != http.StatusOK {
				t.Fatalf("%s: status %d, want 200", c.target, a.status)
			}
			for _, names := range limitHeaders {
				for _, name := range names {
					if v := a.header.Get(name); v != "" {
						t.Errorf("%s: %s: %q without a limit", c.target, name, v)
					}
				}
			}
		}
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	mateoSend := call{"POST", "/api/v1/send_message", mateoHeader(mateoTok), mateoBody}
	lcSend := call{"POST", "/conversations/messages", lcHeader(lcTok), smsBody}
	for _, tc := range []struct {
		name   string
		faults sandbox.Faults
		call   call
		status int    // 0: the connection is dropped
		body   string // the error body; empty for a 200
		slow   bool
	}{
		{"mateo server errors", sandbox.Faults{ServerErrors: 1}, mateoSend,
			503, mateoError(503, "unavailable", "Service Unavailable (sandbox fault)"), false},
		{"leadconnector server errors", sandbox.Faults{ServerErrors: 1}, lcSend,
			503, lcError(503, "Service Unavailable (sandbox fault)"), false},
		{"mateo client errors", sandbox.Faults{ClientErrors: 1}, mateoSend,
			400, mateoError(400, "bad_request", "Bad Request (sandbox fault)"), false},
		{"leadconnector client errors", sandbox.Faults{ClientErrors: 1}, lcSend,
			400, lcError(400, "Bad Request (sandbox fault)"), false},
		{"mateo drops", sandbox.Faults{Drops: 1}, mateoSend, 0, "", false},
		{"leadconnector drops", sandbox.Faults{Drops: 1}, lcSend, 0, "", false},
		{"mateo slow", sandbox.Faults{Slow: 1, SlowDelay: delay}, mateoSend, 200, "", true},
		{"leadconnector slow", sandbox.Faults{Slow: 1, SlowDelay: delay}, lcSend, 200, "", true},
		{"none", sandbox.Faults{}, mateoSend, 200, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb, srv := setup(t, sandbox.Config{Faults: tc.faults})
			for range 2 {
				a, err := try(t, srv, tc.call.method, tc.call.target, tc.call.header, tc.call.body)
				switch {
				case tc.status == 0:
					if err == nil {
						t.Fatalf("status %d, want a dropped connection", a.status)
					}
				case err != nil:
					t.Fatal(err)
				default:
					a.expect(t, tc.status, tc.body)
				}
				if tc.slow && a.elapsed < delay {
					t.Errorf("answered in %v, want at least %v", a.elapsed, delay)
				}
				if !tc.slow && a.elapsed >= delay {
					t.Errorf("answered in %v, want less than %v", a.elapsed, delay)
				}
			}
			for _, r := range sb.Requests() {
				if r.Status != tc.status {
					t.Errorf("recorded status %d, want %d", r.Status, tc.status)
				}
			}
		})
	}
}

func TestSetFaults(t *testing.T) {
	t.Parallel()
	sb, srv := setup(t, sandbox.Config{})
	mateoSend := call{"POST", "/api/v1/send_message", mateoHeader(mateoTok), mateoBody}
	for _, tc := range []struct {
		faults sandbox.Faults
		status int
	}{
		{sandbox.Faults{}, 200},
		{sandbox.Faults{ServerErrors: 1}, 503},
		{sandbox.Faults{ClientErrors: 1}, 400},
		{sandbox.Faults{}, 200},
	} {
		sb.SetFaults(tc.faults)
		if a := mateoSend.send(t, srv); a.status != tc.status {
			t.Errorf("with %+v: status %d, want %d", tc.faults, a.status, tc.status)
		}
	}
	// Faults come after the checks: a request without a token is still 401.
	sb.SetFaults(sandbox.Faults{ServerErrors: 1})
	if a := send(t, srv, "POST", "/api/v1/send_message", with(mateoHeader(""), "Authorization", ""), mateoBody); a.status != 401 {
		t.Errorf("without a token: status %d, want 401", a.status)
	}
}

func TestScript(t *testing.T) {
	t.Parallel()
	const delay = 150 * time.Millisecond
	sb, srv := setup(t, sandbox.Config{Tokens: map[string]map[string]string{mateo.Name: {mateoTok: "default"}}})
	sb.Script(
		sandbox.Answer{Status: 500, Header: http.Header{"Retry-After": {"3"}}, Body: `{"code":"boom"}`},
		sandbox.Answer{Drop: true},
		sandbox.Answer{Status: 202, Delay: delay, Body: `{}`},
		sandbox.Answer{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: "plain"},
	)
	sb.Script(sandbox.Answer{Status: 429, Header: http.Header{"Ratelimit-Reset": {"7"}}, Body: `{"code":"slow down"}`})
	noToken := with(mateoHeader(""), "Authorization", "")
	for i, tc := range []struct {
		header http.Header
		status int // 0: the connection is dropped
		want   http.Header
		body   string
		slow   bool
	}{
		// Scripted answers come before any check: no token needed.
		{noToken, 500, http.Header{"Retry-After": {"3"}, "Content-Type": {"application/json"}}, `{"code":"boom"}`, false},
		{mateoHeader(mateoTok), 0, nil, "", false},
		{mateoHeader(mateoTok), 202, http.Header{"Content-Type": {"application/json"}}, `{}`, true},
		{mateoHeader(mateoTok), 200, http.Header{"Content-Type": {"text/plain"}}, "plain", false},
		{mateoHeader(mateoTok), 429, http.Header{"Ratelimit-Reset": {"7"}, "Content-Type": {"application/json"}}, `{"code":"slow down"}`, false},
	} {
		a, err := try(t, srv, "POST", "/api/v1/send_message", tc.header, mateoBody)
		if tc.status == 0 {
			if err == nil {
				t.Errorf("answer %d: status %d, want a dropped connection", i+1, a.status)
			}
			continue
		}
		if err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
		if a.status != tc.status || string(a.body) != tc.body {
			t.Errorf("answer %d: %d %s, want %d %s", i+1, a.status, a.body, tc.status, tc.body)
		}
		for k := range tc.want {
			if got := a.header.Get(k); got != tc.want.Get(k) {
				t.Errorf("answer %d: %s: %q, want %q", i+1, k, got, tc.want.Get(k))
			}
		}
		if slow := a.elapsed >= delay; slow != tc.slow {
			t.Errorf("answer %d: answered in %v, want slow %t (%v)", i+1, a.elapsed, tc.slow, delay)
		}
	}
	// The script is used up: the sandbox checks and answers again.
	send(t, srv, "POST", "/api/v1/send_message", noToken, mateoBody).
		check(t, 401, mateoError(401, "unauthorized", "invalid or missing bearer token"))

	var got []int
	for _, r := range sb.Requests() {
		got = append(got, r.Status)
	}
	if want := []int{500, 0, 202, 200, 429, 401}; !reflect.DeepEqual(got, want) {
		t.Errorf("recorded statuses %v, want %v", got, want)
	}
}

func TestScriptWithoutStatus(t *testing.T) {
	t.Parallel()
	sb, srv := setup(t, sandbox.Config{})
	sb.Script(sandbox.Answer{Body: `{"ok":true}`})
	send(t, srv, "POST", "/api/v1/send_message", mateoHeader(mateoTok), mateoBody).check(t, 200, `{"ok":true}`)
}

func TestRequests(t *testing.T) {
	t.Parallel()
	sb, srv := setup(t, sandbox.Config{Tokens: map[string]map[string]string{mateo.Name: {mateoTok: "default"}}})
	if got := sb.Requests(); len(got) != 0 {
		t.Fatalf("Requests before any = %v", got)
	}
	patch := `{"status":"closed"}`
	calls := []call{
		{"POST", "/api/v1/send_message?select=id", mateoHeader(mateoTok), mateoBody},
		{"PATCH", "/api/v1/conversation?id=eq." + from, mateoHeader(mateoTok), patch},
		{"POST", "/api/v1/send_message", mateoHeader("tok-unknown"), mateoBody},
		{"POST", "/conversations/messages", lcHeader(lcTok), smsBody},
		{"POST", "/conversations/messages", with(lcHeader(lcTok), "Version", ""), `{}`},
	}
	start := time.Now()
	for _, c := range calls {
		c.send(t, srv)
	}
	want := []sandbox.Request{
		{Provider: mateo.Name, Method: "POST", Path: "/api/v1/send_message", Query: "select=id", Body: []byte(mateoBody), Status: 200},
		{Provider: mateo.Name, Method: "PATCH", Path: "/api/v1/conversation", Query: "id=eq." + from, Body: []byte(patch), Status: 200},
		{Provider: mateo.Name, Method: "POST", Path: "/api/v1/send_message", Body: []byte(mateoBody), Status: 401},
		{Provider: leadconnector.Name, Method: "POST", Path: "/conversations/messages", Body: []byte(smsBody), Status: 200},
		{Provider: leadconnector.Name, Method: "POST", Path: "/conversations/messages", Body: []byte(`{}`), Status: 400},
	}
	got := sb.Requests()
	if len(got) != len(want) {
		t.Fatalf("%d requests recorded, want %d", len(got), len(want))
	}
	last := start
	for i, r := range got {
		if r.At.Before(last) || r.At.After(time.Now()) {
			t.Errorf("request %d: At %v not in order after %v", i+1, r.At, last)
		}
		last = r.At
		for _, h := range []string{"Authorization", "Content-Type", "Version"} {
			if r.Header.Get(h) != calls[i].header.Get(h) {
				t.Errorf("request %d: header %s = %q, want %q", i+1, h, r.Header.Get(h), calls[i].header.Get(h))
			}
		}
		r.At, r.Header = time.Time{}, nil
		if !reflect.DeepEqual(r, want[i]) {
			t.Errorf("request %d = %+v, want %+v", i+1, r, want[i])
		}
	}
}

func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	sb, srv := setup(t, sandbox.Config{})
	const n = 16
	body := `{"from":"` + from + `","id":"7d3f1a52-8c1e-4b5a-9f0e-2a6b4c8d1e3f","text":"Hi"}`
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a, err := try(t, srv, "POST", "/api/v1/send_message", mateoHeader(mateoTok), body)
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = a.status
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if want := map[int]int{200: 1, 409: n - 1}; !reflect.DeepEqual(count, want) {
		t.Errorf("statuses %v, want %v", count, want)
	}
	if got := len(sb.Requests()); got != n {
		t.Errorf("%d requests recorded, want %d", got, n)
	}
}

func TestLogger(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	sb, srv := setup(t, sandbox.Config{Tokens: map[string]map[string]string{mateo.Name: {mateoTok: "acme"}}})
	send(t, srv, "POST", "/api/v1/send_message", mateoHeader(mateoTok), mateoBody)
	sb.SetLogger(zap.New(core))
	for _, c := range []call{
		{"POST", "/api/v1/send_message", mateoHeader(mateoTok), mateoBody},
		{"POST", "/api/v1/send_message", mateoHeader("tok-unknown"), mateoBody},
		{"POST", "/conversations/messages", lcHeader(lcTok), smsBody},
	} {
		c.send(t, srv)
	}
	want := []map[string]any{
		{"provider": mateo.Name, "method": "POST", "path": "/api/v1/send_message", "status": int64(200), "account": "acme"},
		{"provider": mateo.Name, "method": "POST", "path": "/api/v1/send_message", "status": int64(401), "account": "none"},
		{"provider": leadconnector.Name, "method": "POST", "path": "/conversations/messages", "status": int64(200), "account": "any"},
	}
	entries := logs.AllUntimed()
	if len(entries) != len(want) {
		t.Fatalf("%d log entries, want %d (nothing before SetLogger)", len(entries), len(want))
	}
	for i, e := range entries {
		if got := e.ContextMap(); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("log %d: %v, want %v", i+1, got, want[i])
		}
		if strings.Contains(fmt.Sprint(e.ContextMap()), "tok-") {
			t.Errorf("log %d reveals a token: %v", i+1, e.ContextMap())
		}
	}
}
