package senders_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/sendertest"
	"github.com/punctualhq/punctual/senders"
)

func TestCheckBaseURL(t *testing.T) {
	t.Parallel()
	accepted := []struct{ raw, want string }{
		{"https://integration.getmateo.com/api/v1", "https://integration.getmateo.com/api/v1"},
		{"https://integration.getmateo.com/api/v1/", "https://integration.getmateo.com/api/v1"},
		{"https://services.leadconnectorhq.com", "https://services.leadconnectorhq.com"},
		{"HTTPS://services.leadconnectorhq.com:8443", "https://services.leadconnectorhq.com:8443"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.0.0.2/mateo", "http://127.0.0.2/mateo"},
		{"http://localhost:3000/api/", "http://localhost:3000/api"},
		{"http://[::1]:9000", "http://[::1]:9000"},
	}
	for _, tt := range accepted {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			u, err := senders.CheckBaseURL(tt.raw)
			if err != nil {
				t.Fatalf("CheckBaseURL(%q) = %v", tt.raw, err)
			}
			if u.String() != tt.want {
				t.Errorf("CheckBaseURL(%q) = %s, want %s", tt.raw, u, tt.want)
			}
		})
	}

	const secret = "s3cret"
	refused := []struct{ raw, want string }{
		{"http://example.com", `plain http to the non-loopback host "example.com" would send tokens in clear text: use https`},
		{"http://localhost.example.com", `plain http to the non-loopback host "localhost.example.com" would send tokens in clear text: use https`},
		{"http://10.0.0.1:8080", `plain http to the non-loopback host "10.0.0.1" would send tokens in clear text: use https`},
		{"http://0.0.0.0:8080", `plain http to the non-loopback host "0.0.0.0" would send tokens in clear text: use https`},
		{"https://user:" + secret + "@example.com", "credentials do not belong in the URL"},
		{"http://user:" + secret + "@localhost:8080", "credentials do not belong in the URL"},
		{"https://" + secret + "@example.com", "credentials do not belong in the URL"},
		{"https://user:" + secret + "@exa mple.com", `not a URL: invalid character " " in host name`},
		{"https://user:" + secret + "@example.com:port", `not a URL: invalid port ":port" after host`},
		{"://example.com", "not a URL: missing protocol scheme"},
		{"user:" + secret + "@example.com", "no host: want https://host[/path]"},
		{"example.com", "no host: want https://host[/path]"},
		{"", "no host: want https://host[/path]"},
		{"https://example.com/api?access_token=" + secret, "a query or fragment does not belong in the URL"},
		{"https://example.com/api#" + secret, "a query or fragment does not belong in the URL"},
		{"ftp://example.com", `scheme "ftp": use https`},
		{"ws://localhost", `scheme "ws": use https`},
	}
	for _, tt := range refused {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			u, err := senders.CheckBaseURL(tt.raw)
			if err == nil {
				t.Fatalf("CheckBaseURL(%q) = %s, want an error", tt.raw, u)
			}
			if err.Error() != tt.want {
				t.Errorf("CheckBaseURL(%q) = %q, want %q", tt.raw, err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}

func TestNewTransportRefusesBaseURL(t *testing.T) {
	t.Parallel()
	if tr, err := senders.NewTransport("mateo", "http://example.com", time.Second); err == nil {
		t.Errorf("NewTransport = %v, want an error", tr)
	}
}

type reply struct {
	ID   string `json:"id"`
	Left int    `json:"left"`
}

// setup returns a transport to a server that answers a, at base path /api/v1/.
func setup(t *testing.T, a sendertest.Answer, opts ...senders.Option) (*senders.Transport, *sendertest.Recorder) {
	t.Helper()
	rec := sendertest.NewRecorder(t, a)
	tr, err := senders.NewTransport("mateo", rec.URL+"/api/v1/", time.Second, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tr, rec
}

func TestCallRequest(t *testing.T) {
	t.Parallel()
	tr, rec := setup(t, sendertest.Answer{Status: 200, Body: `{}`})
	body, err := senders.Encode("mateo", "op", map[string]any{"b": []int{1, 2}, "a": nil, "html": "<p>&</p>"})
	if err != nil {
		t.Fatal(err)
	}
	query := url.Values{"id": {"eq.3c90c3cc-0d44-4b50-8888-8dd25736052a"}, "select": {"id,status"}}
	if _, err := senders.Call[reply](context.Background(), tr, "op", http.MethodPatch, "/conversation", query, "tok", body); err != nil {
		t.Fatal(err)
	}
	got := rec.Only(t)
	if got.Method != http.MethodPatch || got.Path != "/api/v1/conversation" {
		t.Errorf("request = %s %s, want PATCH /api/v1/conversation", got.Method, got.Path)
	}
	if want := "id=eq.3c90c3cc-0d44-4b50-8888-8dd25736052a&select=id%2Cstatus"; got.RawQuery != want {
		t.Errorf("query = %q, want %q", got.RawQuery, want)
	}
	sendertest.AssertHeaders(t, got.Header, "tok")
	sendertest.JSONEqual(t, got.Body, `{"a":null,"b":[1,2],"html":"<p>&</p>"}`)
}

func TestCallOptions(t *testing.T) {
	t.Parallel()
	tr, rec := setup(t, sendertest.Answer{Status: 200},
		senders.WithUserAgent("acme-scheduler/2"),
		senders.WithHeader("X-Tenant", "acme"),
		senders.WithHeader("Authorization", "Basic bm90OnRoaXM="),
	)
	if _, err := senders.Call[reply](context.Background(), tr, "op", http.MethodPost, "/x", nil, "tok", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	h := rec.Only(t).Header
	for k, want := range map[string]string{"User-Agent": "acme-scheduler/2", "X-Tenant": "acme", "Authorization": "Bearer tok"} {
		if got := h.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want [%q]", k, got, want)
		}
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCallWithHTTPClient(t *testing.T) {
	t.Parallel()
	var used bool
	client := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		used = true
		return &http.Response{StatusCode: 202, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})}
	tr, err := senders.NewTransport("leadconnector", "https://services.leadconnectorhq.com", time.Second, senders.WithHTTPClient(client))
	if err != nil {
		t.Fatal(err)
	}
	r, err := senders.Call[reply](context.Background(), tr, "op", http.MethodPost, "/x", nil, "tok", []byte(`{}`))
	if err != nil || !used || r.StatusCode != 202 {
		t.Errorf("Call = %+v, %v; client used: %t", r, err, used)
	}
}

func TestCallAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   reply
	}{
		{"200", 200, `{"id":"m1","left":3,"more":true}`, reply{"m1", 3}},
		{"201", 201, `{"id":"m2"}`, reply{ID: "m2"}},
		{"204 no body", 204, ``, reply{}},
		// The provider took the request: an answer that does not decode is no reason to send again.
		{"not JSON", 200, `<html>ok</html>`, reply{}},
		{"other shape", 200, `{"id":7}`, reply{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, _ := setup(t, sendertest.Answer{Status: tt.status, Body: tt.body})
			r, err := senders.Call[reply](context.Background(), tr, "op", http.MethodPost, "/x", nil, "tok", []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if r.StatusCode != tt.status || string(r.Body) != tt.body || r.Value != tt.want {
				t.Errorf("Response = %d %q %+v, want %d %q %+v", r.StatusCode, r.Body, r.Value, tt.status, tt.body, tt.want)
			}
		})
	}
}

func TestEncodeUnencodableBody(t *testing.T) {
	t.Parallel()
	_, err := senders.Encode("mateo", "send_message", map[string]any{"c": make(chan int)})
	if !errors.Is(err, senders.ErrInvalidRequest) {
		t.Fatalf("error = %v, want ErrInvalidRequest", err)
	}
	if !strings.HasPrefix(err.Error(), "mateo send_message: invalid request: ") {
		t.Errorf("error = %q, want it to name the provider and operation", err)
	}
	if got, _ := senders.DefaultPolicy().Classify(err, nil); got != senders.Permanent {
		t.Errorf("Classify = %s, want permanent", got)
	}
}

// secretToken is the credential the failure tests send; no error may name it.
const secretToken = "tok-7c1e-never-in-errors"

// answerTimeout is the client timeout of the tests where it must fire while
// the answer is awaited: long enough for the request to be written even on a
// busy machine.
const answerTimeout = 500 * time.Millisecond

// serve starts a server, closed when the test ends, that runs h. The handler
// may block on release, closed before the server is.
func serve(t *testing.T, h func(w http.ResponseWriter, r *http.Request, release <-chan struct{})) string {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, release) }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: Close waits for the handlers
	return srv.URL
}

// readRequest reads the request's body whole, so that the request has
// certainly been written by the client.
func readRequest(t *testing.T, r *http.Request) {
	t.Helper()
	if _, err := io.ReadAll(r.Body); err != nil {
		t.Errorf("reading the request body: %v", err)
	}
}

// hijack takes the connection over from the server.
func hijack(t *testing.T, w http.ResponseWriter) (net.Conn, *bufio.ReadWriter) {
	t.Helper()
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Fatalf("hijack: %v", err)
	}
	return conn, buf
}

// reset closes conn with a TCP reset instead of an orderly close.
func reset(t *testing.T, conn net.Conn) {
	t.Helper()
	if err := conn.(*net.TCPConn).SetLinger(0); err != nil {
		t.Errorf("SetLinger: %v", err)
	}
	_ = conn.Close()
}

// call sends a Mateo send_message through a transport to base, with its own
// connection pool, so that no test depends on a connection another made.
func call(t *testing.T, base string, body []byte, opts ...senders.Option) (*senders.Response[reply], error) {
	t.Helper()
	tr, err := senders.NewTransport("mateo", base+"/api/v1", 5*time.Second, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return senders.Call[reply](context.Background(), tr, "send_message", http.MethodPost, "/message", nil, secretToken, body)
}

// assertPrivate checks that err names the provider and the operation, but
// neither the token nor the URL.
func assertPrivate(t *testing.T, err error, base string) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "mateo send_message: ") {
		t.Errorf("error = %q, want it to name the provider and the operation", msg)
	}
	for _, secret := range []string{secretToken, base, "/api/v1"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error = %q, names %q", msg, secret)
		}
	}
}

func TestCallBodyCutShort(t *testing.T) {
	t.Parallel()
	const sent = `{"id":"m1","left":3,` // 20 bytes of a promised 1000
	partial := func(t *testing.T, w http.ResponseWriter) (net.Conn, *bufio.ReadWriter) {
		conn, buf := hijack(t, w)
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + sent)
		if err := buf.Flush(); err != nil {
			t.Errorf("writing the answer: %v", err)
		}
		return conn, buf
	}
	tests := []struct {
		name    string
		timeout time.Duration
		handler func(w http.ResponseWriter, r *http.Request, release <-chan struct{})
		want    error // in the ReadErr chain
	}{
		{"connection closed", 5 * time.Second, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
			readRequest(t, r)
			conn, _ := partial(t, w)
			_ = conn.Close()
		}, io.ErrUnexpectedEOF},
		{"connection reset", 5 * time.Second, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
			readRequest(t, r)
			conn, _ := partial(t, w)
			reset(t, conn)
		}, syscall.ECONNRESET},
		{"timeout while reading the body", answerTimeout, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
			readRequest(t, r)
			w.Header().Set("Content-Length", "1000")
			_, _ = io.WriteString(w, sent)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush: %v", err)
			}
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := serve(t, tt.handler)
			r, err := call(t, base, []byte(`{}`), senders.WithTimeout(tt.timeout))
			if err != nil {
				t.Fatalf("Call = %v, want the 200 answer: the provider took the message", err)
			}
			if r.StatusCode != 200 || string(r.Body) != sent || r.Value != (reply{}) {
				t.Errorf("Response = %d %q %+v, want 200 %q and a zero Value", r.StatusCode, r.Body, r.Value, sent)
			}
			if r.ReadErr == nil {
				t.Fatal("ReadErr = nil, want why the body was cut short")
			}
			if tt.want != nil && !errors.Is(r.ReadErr, tt.want) {
				t.Errorf("ReadErr = %v, want %v in its chain", r.ReadErr, tt.want)
			}
			assertPrivate(t, r.ReadErr, base)
		})
	}
}

func TestCallReadErrNilWhenWhole(t *testing.T) {
	t.Parallel()
	tr, _ := setup(t, sendertest.Answer{Status: 200, Body: `{"id":"m1"}`})
	r, err := senders.Call[reply](context.Background(), tr, "op", http.MethodPost, "/x", nil, "tok", []byte(`{}`))
	if err != nil || r.ReadErr != nil {
		t.Errorf("Call = %+v, %v; want a whole answer", r, err)
	}
}

func TestCallOutcome(t *testing.T) {
	t.Parallel()
	closed := func(t *testing.T) string {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		return srv.URL
	}
	tests := []struct {
		name    string
		timeout time.Duration
		base    func(t *testing.T) string
		body    []byte
		want    senders.Outcome
		cause   []error // one of them is in the error's chain
	}{
		{"no answer before the timeout", answerTimeout, func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
				readRequest(t, r)
				select {
				case <-r.Context().Done():
				case <-release:
				}
			})
		}, []byte(`{}`), senders.Unknown, []error{context.DeadlineExceeded}},
		{"connection closed after the request", 5 * time.Second, func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
				readRequest(t, r)
				conn, _ := hijack(t, w)
				_ = conn.Close()
			})
		}, []byte(`{}`), senders.Unknown, []error{io.EOF}},
		{"connection reset after the request", 5 * time.Second, func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
				readRequest(t, r)
				conn, _ := hijack(t, w)
				reset(t, conn)
			})
		}, []byte(`{}`), senders.Unknown, []error{syscall.ECONNRESET}},
		{"connection refused", 5 * time.Second, closed, []byte(`{}`), senders.Retry, []error{syscall.ECONNREFUSED}},
		// The server resets the connection on the headers: the body, larger
		// than the sockets' buffers, cannot be written whole.
		{"connection reset while writing", 5 * time.Second, func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
				conn, _ := hijack(t, w)
				reset(t, conn)
			})
		}, []byte(`"` + strings.Repeat("x", 64<<20) + `"`), senders.Retry, []error{syscall.ECONNRESET, syscall.EPIPE, net.ErrClosed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := tt.base(t)
			r, err := call(t, base, tt.body, senders.WithTimeout(tt.timeout))
			if err == nil {
				t.Fatalf("Call = %+v, want an error", r)
			}
			outcome, wait := senders.DefaultPolicy().Classify(err, nil)
			if outcome != tt.want || wait != 0 {
				t.Errorf("Classify(%v) = %s, %s; want %s, 0s", err, outcome, wait, tt.want)
			}
			if unknown := errors.Is(err, senders.ErrOutcomeUnknown); unknown != (tt.want == senders.Unknown) {
				t.Errorf("errors.Is(%v, ErrOutcomeUnknown) = %t", err, unknown)
			}
			if !slices.ContainsFunc(tt.cause, func(cause error) bool { return errors.Is(err, cause) }) {
				t.Errorf("error = %v, want one of %v in its chain", err, tt.cause)
			}
			assertPrivate(t, err, base)
		})
	}
}

func TestCallRefusesRedirect(t *testing.T) {
	t.Parallel()
	follower := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	clients := []struct {
		name string
		opts []senders.Option
	}{
		{"own client", nil},
		{"caller's client", []senders.Option{senders.WithHTTPClient(&http.Client{})}},
		{"caller's client that follows", []senders.Option{senders.WithHTTPClient(follower)}},
	}
	targets := []struct {
		name     string
		location func(target *url.URL) string
	}{
		{"another host", func(u *url.URL) string { return "http://localhost:" + u.Port() + "/api/v1/message" }},
		{"same host, another port", func(u *url.URL) string { return u.String() + "/api/v1/message" }},
	}
	for _, c := range clients {
		for _, target := range targets {
			for _, status := range []int{301, 302, 303, 307, 308} {
				t.Run(fmt.Sprintf("%s/%s/%d", c.name, target.name, status), func(t *testing.T) {
					t.Parallel()
					elsewhere := sendertest.NewRecorder(t, sendertest.Answer{Status: 200, Body: `{"id":"m1"}`})
					u, err := url.Parse(elsewhere.URL)
					if err != nil {
						t.Fatal(err)
					}
					origin := sendertest.NewRecorder(t, sendertest.Answer{Status: status, Header: map[string]string{"Location": target.location(u)}})
					r, err := call(t, origin.URL, []byte(`{}`), c.opts...)
					if n := len(elsewhere.Requests()); n != 0 {
						t.Errorf("the redirect's target received %d requests, want none", n)
					}
					origin.Only(t)
					var apiErr *senders.APIError
					if !errors.As(err, &apiErr) || apiErr.StatusCode != status {
						t.Fatalf("Call = %+v, %v; want an *APIError with status %d", r, err, status)
					}
					if got, _ := senders.DefaultPolicy().Classify(err, nil); got != senders.Permanent {
						t.Errorf("Classify = %s, want permanent", got)
					}
				})
			}
		}
	}
	t.Cleanup(func() { // after the subtests, which run in parallel
		if follower.CheckRedirect == nil || follower.CheckRedirect(nil, nil) != nil {
			t.Error("WithHTTPClient changed the caller's client")
		}
	})
}
