package senders

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Version is the project's version, named in every request's User-Agent.
const Version = "0.1.0"

// maxBody bounds how much of a successful answer is read.
const maxBody = 16 << 20

// Transport sends the JSON requests of one provider: base URL, bearer
// token, the headers every request carries, a bounded read of the answer
// and the *APIError of a non-2xx answer. The provider clients are built on it.
type Transport struct {
	provider  string
	base      *url.URL
	client    *http.Client
	userAgent string
	header    http.Header
}

// Option configures a Transport.
type Option func(*Transport)

// WithHTTPClient sends requests through a copy of c instead of the
// transport's own client; give WithTimeout after it to change its timeout.
// The copy never follows a redirect, whatever c does.
func WithHTTPClient(c *http.Client) Option {
	return func(t *Transport) {
		cp := *c
		cp.CheckRedirect = refuseRedirect
		t.client = &cp
	}
}

// refuseRedirect makes a 3xx the answer: following it would carry the
// bearer token to wherever the provider points, even to plain http on the
// same host.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// WithRoundTripper sends requests through wrap's RoundTripper around the
// transport's own: for headers a request's context calls for, such as its
// trace context.
func WithRoundTripper(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(t *Transport) { t.client.Transport = wrap(t.client.Transport) }
}

// WithTimeout bounds each request, answer included.
func WithTimeout(d time.Duration) Option { return func(t *Transport) { t.client.Timeout = d } }

// WithUserAgent replaces the default User-Agent, "punctual/VERSION".
func WithUserAgent(ua string) Option { return func(t *Transport) { t.userAgent = ua } }

// WithHeader adds a header to every request.
func WithHeader(key, value string) Option { return func(t *Transport) { t.header.Set(key, value) } }

// NewTransport returns a Transport for provider at baseURL, which must pass
// CheckBaseURL. Requests time out after timeout unless an option says otherwise.
func NewTransport(provider, baseURL string, timeout time.Duration, opts ...Option) (*Transport, error) {
	base, err := CheckBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	pool := http.DefaultTransport.(*http.Transport).Clone()
	pool.MaxIdleConns = 512
	pool.MaxIdleConnsPerHost = 256
	t := &Transport{
		provider:  provider,
		base:      base,
		client:    &http.Client{Transport: pool, Timeout: timeout, CheckRedirect: refuseRedirect},
		userAgent: "punctual/" + Version,
		header:    http.Header{},
	}
	for _, opt := range opts {
		opt(t)
	}
	return t, nil
}

// Timeout is how long a request through t may take, its answer read.
func (t *Transport) Timeout() time.Duration { return t.client.Timeout }

// CheckBaseURL parses a provider base URL. It must be https, or plain http
// to a loopback host: tokens never cross a network in clear text. It may
// carry no credentials, query or fragment. Its errors do not quote the URL,
// which may hold a secret.
func CheckBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil: // a *url.Error, which quotes the URL: keep only its reason
		return nil, fmt.Errorf("not a URL: %w", errors.Unwrap(err))
	case u.Host == "":
		return nil, errors.New("no host: want https://host[/path]")
	case u.User != nil:
		return nil, errors.New("credentials do not belong in the URL")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("a query or fragment does not belong in the URL")
	case u.Scheme == "https":
	case u.Scheme == "http" && IsLoopback(u.Hostname()):
	case u.Scheme == "http":
		return nil, fmt.Errorf("plain http to the non-loopback host %q would send tokens in clear text: use https", u.Hostname())
	default:
		return nil, fmt.Errorf("scheme %q: use https", u.Scheme)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// IsLoopback reports whether host (a name or an IP) is on loopback.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Response is a provider's 2xx answer.
type Response[T any] struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Header is the answer's header: its rate-limit fields tell how much is left.
	Header http.Header
	// Body is the answer's body as the provider sent it.
	Body json.RawMessage
	// Value is the body decoded. A 2xx answer means the provider took the
	// request, so a body that does not decode leaves Value partly or wholly
	// zero rather than failing a send that happened.
	Value T
	// ReadErr is the error that cut the answer's body short; nil when it
	// was read whole. Body holds what arrived before it.
	ReadErr error
}

// Call sends body, JSON, with method to the base URL's path and query,
// with token as the bearer credential, and returns the 2xx answer, even one
// whose body could not be read whole (see Response.ReadErr). A non-2xx
// answer, redirects included, is an *APIError naming op; a request that
// cannot be built wraps ErrInvalidRequest; a request written but not
// answered wraps ErrOutcomeUnknown.
func Call[T any](ctx context.Context, t *Transport, op, method, path string, query url.Values, token string, body []byte) (*Response[T], error) {
	a, err := t.do(ctx, op, method, path, query, token, body)
	if err != nil {
		return nil, err
	}
	r := &Response[T]{StatusCode: a.status, Header: a.header, Body: a.body, ReadErr: a.readErr}
	if _, keep := any(&r.Value).(*Undecoded); !keep {
		_ = json.Unmarshal(a.body, &r.Value)
	}
	return r, nil
}

// Undecoded, as Call's type, leaves an answer undecoded, in Body as it
// came: for a caller that keeps the answer whole and decodes what it
// needs only when it needs it.
type Undecoded struct{}

// Encode marshals a typed request for Call; its error wraps ErrInvalidRequest.
func Encode(provider, op string, req any) ([]byte, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %w", provider, op, ErrInvalidRequest, err)
	}
	return body, nil
}

// answer is a 2xx answer as do read it.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	readErr error
}

func (t *Transport) do(ctx context.Context, op, method, path string, query url.Values, token string, payload []byte) (answer, error) {
	u := *t.base
	u.Path += path
	u.RawQuery = query.Encode()
	// written stays set: a try that reached the provider whole may have been
	// acted on, whatever a later try by http.Transport itself meets.
	var written atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				written.Store(true)
			}
		},
	})
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(payload))
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w: %w", t.provider, op, ErrInvalidRequest, err)
	}
	for k, v := range t.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", t.userAgent)

	resp, err := t.client.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) { // it quotes the URL: keep only its reason
			err = urlErr.Err
		}
		if written.Load() {
			return answer{}, fmt.Errorf("%s %s: %w: request written, no answer: %w", t.provider, op, ErrOutcomeUnknown, err)
		}
		return answer{}, fmt.Errorf("%s %s: %w", t.provider, op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// The provider took the request: a body cut short does not undo the send.
		a := answer{status: resp.StatusCode, header: resp.Header}
		a.body, a.readErr = io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if a.readErr != nil {
			a.readErr = fmt.Errorf("%s %s: reading the answer: %w", t.provider, op, a.readErr)
		}
		return a, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %d answer: %w", t.provider, op, resp.StatusCode, err)
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxErrorBody) // let the connection be reused
	return answer{}, newAPIError(t.provider, op, resp, data, time.Now())
}
