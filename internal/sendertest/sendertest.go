// Package sendertest holds what the tests of the provider clients share: a
// server that records the requests it answers, a semantic comparison of
// JSON documents, the problems listed in a validation error, and the checks
// every client call must pass when the provider does not answer with a 2xx.
package sendertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/punctualhq/punctual/senders"
)

// Request is a request a Recorder received.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Answer is what a Recorder replies to every request.
type Answer struct {
	Status int
	Header map[string]string
	Body   string
}

// Recorder is a test server that records the requests it answers.
type Recorder struct {
	// URL is the server's base URL.
	URL string

	mu       sync.Mutex
	requests []Request
}

// NewRecorder starts a server, closed when the test ends, that answers every
// request with a.
func NewRecorder(t testing.TB, a Answer) *Recorder {
	t.Helper()
	rec := &Recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the request body: %v", err)
		}
		rec.mu.Lock()
		rec.requests = append(rec.requests, Request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		rec.mu.Unlock()
		for k, v := range a.Header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.Status)
		_, _ = io.WriteString(w, a.Body)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

// Requests returns the requests received so far.
func (rec *Recorder) Requests() []Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.requests)
}

// Only returns the one request received, failing the test unless there was
// exactly one.
func (rec *Recorder) Only(t testing.TB) Request {
	t.Helper()
	requests := rec.Requests()
	if len(requests) != 1 {
		t.Fatalf("the server received %d requests, want 1", len(requests))
	}
	return requests[0]
}

// Hanging starts a server, closed when the test ends, that never answers:
// each handler waits until its client goes away. arrived receives a value
// when a request reaches the handler.
func Hanging(t testing.TB) (url string, arrived <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ch <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: Close waits for the handlers
	return srv.URL, ch
}

// AssertHeaders checks the headers every request carries: the bearer
// token, JSON both ways and the project's User-Agent.
func AssertHeaders(t testing.TB, h http.Header, token string) {
	t.Helper()
	want := map[string]string{
		"Authorization": "Bearer " + token,
		"Content-Type":  "application/json",
		"Accept":        "application/json",
		"User-Agent":    "punctual/" + senders.Version,
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %q, want [%q]", k, got, v)
		}
	}
}

// JSONEqual fails the test unless got and want are the same JSON value:
// same members, whatever their order and spacing, numbers spelled alike.
func JSONEqual(t testing.TB, got []byte, want string) {
	t.Helper()
	g, err := decode(got)
	if err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	w, err := decode([]byte(want))
	if err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs\n got: %s\nwant: %s", got, compact(want))
	}
}

func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func compact(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}

// Problems lists the messages of err, one per problem that jsonvalue.Validate
// joined; nil for a nil error.
func Problems(err error) []string {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range joined.Unwrap() {
		out = append(out, e.Error())
	}
	return out
}

// Call makes one request through a client built for baseURL with opts,
// sending token.
type Call func(ctx context.Context, baseURL, token string, opts ...senders.Option) error

// token is the credential CheckFailures sends; no error may contain it.
const token = "tok-3f9a1c-never-in-errors"

// patience bounds how long a call that should end at once may take.
const patience = 5 * time.Second

// CheckFailures checks what call must do when the provider does not answer
// with a 2xx: a non-2xx answer is an *APIError for provider and op whose
// Body keeps at most 1 MiB; cancelling the context or the client's timeout
// ends a request the server never answers, the timeout with the outcome
// unknown; and no error names the token.
func CheckFailures(t *testing.T, provider, op string, call Call) {
	t.Run("error answer", func(t *testing.T) {
		t.Parallel()
		const limit = 1 << 20
		body := strings.Repeat("x", limit+4096)
		rec := NewRecorder(t, Answer{Status: http.StatusBadGateway, Body: body})
		err := call(context.Background(), rec.URL, token)
		var apiErr *senders.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("error = %v, want an *APIError", err)
		}
		if apiErr.Provider != provider || apiErr.Operation != op || apiErr.StatusCode != http.StatusBadGateway {
			t.Errorf("APIError = %s %s %d, want %s %s 502", apiErr.Provider, apiErr.Operation, apiErr.StatusCode, provider, op)
		}
		if len(apiErr.Body) != limit || string(apiErr.Body) != body[:limit] {
			t.Errorf("len(Body) = %d, want the first %d bytes of the answer", len(apiErr.Body), limit)
		}
		if want := provider + " " + op + ": 502 Bad Gateway: " + body[:1024] + "…"; err.Error() != want {
			t.Errorf("Error() = %.80q…, want the first KiB of the body", err.Error())
		}
		assertNoToken(t, err)
	})

	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		url, arrived := Hanging(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-arrived:
			case <-ctx.Done():
			}
			cancel()
		}()
		err := within(t, func() error { return call(ctx, url, token) })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
		assertNoToken(t, err)
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		url, _ := Hanging(t)
		// Long enough for the request to be written even on a busy machine:
		// the timeout must fall while the answer is awaited.
		err := within(t, func() error {
			return call(context.Background(), url, token, senders.WithTimeout(500*time.Millisecond))
		})
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, senders.ErrOutcomeUnknown) {
			t.Errorf("error = %v, want a timeout with the outcome unknown", err)
		}
		if got, _ := senders.DefaultPolicy().Classify(err, nil); got != senders.Unknown {
			t.Errorf("Classify = %s, want unknown", got)
		}
		assertNoToken(t, err)
	})

	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		err := within(t, func() error { return call(context.Background(), srv.URL, token) })
		if err == nil {
			t.Fatal("no error from a closed server")
		}
		if got, _ := senders.DefaultPolicy().Classify(err, nil); got != senders.Retry {
			t.Errorf("Classify(%v) = %s, want retry", err, got)
		}
		assertNoToken(t, err)
	})
}

// within runs f and fails the test unless it returns within patience.
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(patience):
		t.Fatalf("the call did not return within %s", patience)
		return nil
	}
}

func assertNoToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), token) {
		t.Errorf("the error names the token: %v", err)
	}
}

// AssertAPIError checks that err is an *APIError equal to want, with the
// answer's body, that the default policy classifies as outcome with the
// operation's duplicate rule.
func AssertAPIError(t testing.TB, err error, want senders.APIError, body string, outcome senders.Outcome, duplicate func(*senders.APIError) bool) {
	t.Helper()
	var apiErr *senders.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v, want an *APIError", err)
	}
	got := *apiErr
	got.Body = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("APIError = %+v\nwant %+v", got, want)
	}
	if string(apiErr.Body) != body {
		t.Errorf("Body = %q, want %q", apiErr.Body, body)
	}
	if got, _ := senders.DefaultPolicy().Classify(err, duplicate); got != outcome {
		t.Errorf("Classify = %s, want %s", got, outcome)
	}
}
