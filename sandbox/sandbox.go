// Package sandbox is an HTTP server that plays the providers for dev mode,
// tests and benchmarks, through the fakes registered with Register. For
// every fake alike it checks the bearer token and the Content-Type,
// enforces per-token rate limits with 429s, injects faults on request,
// plays scripted answers and records every request it receives; each fake
// checks what else its provider requires, validates requests against the
// provider's documented schemas and answers in its documented shapes
// (package fake). It can play HighLevel's OAuth too (OAuth): rotating
// single-use refresh tokens and access tokens that expire.
//
// Each fake lives under its own path, so one server is every provider's
// base URL: Mateo's under /api/v1 (MATEO_BASE_URL=http://HOST/api/v1),
// LeadConnector's at the root (LEADCONNECTOR_BASE_URL=http://HOST).
package sandbox

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/punctualhq/punctual/sandbox/fake"
)

// Limit is a per-token rate limit: Count requests per Period (a fixed
// window), and at most Daily a day. Zero fields are no limit.
type Limit struct {
	Count  int
	Period time.Duration
	Daily  int
}

// Faults are shares (0 to 1) of requests answered badly at random.
type Faults struct {
	// ServerErrors are answered 503.
	ServerErrors float64
	// ClientErrors are answered 400.
	ClientErrors float64
	// Slow are answered after SlowDelay.
	Slow      float64
	SlowDelay time.Duration
	// Drops have their connection closed without an answer.
	Drops float64
}

// Answer is a scripted answer: Script makes the next requests get these.
type Answer struct {
	// Status is the HTTP status; 0 is 200.
	Status int
	Header http.Header
	Body   string
	// Delay holds the answer back.
	Delay time.Duration
	// Drop closes the connection without an answer.
	Drop bool
	// Cut sends the status and the first half of Body, then closes the
	// connection: the request was taken and its answer lost on the way.
	Cut bool
}

// Config configures a Server.
type Config struct {
	// Tokens are the tokens each provider takes, by provider name, each
	// naming an account in the log; a provider with none takes any
	// non-empty token.
	Tokens map[string]map[string]string
	// Limits apply to each token, by provider name.
	Limits map[string]Limit
	// Faults are injected at random.
	Faults Faults
	// OAuth, when set, plays HighLevel's OAuth: a fake that takes it
	// (LeadConnector's) then takes the access tokens it issued as well as
	// its Tokens (none other when it has none).
	OAuth *OAuth
	// Logger logs each request; nothing is logged when nil.
	Logger *zap.Logger
}

// Request is a request the sandbox received, with the status it answered.
type Request struct {
	At       time.Time
	Provider string
	Method   string
	Path     string
	Query    string
	Header   http.Header
	Body     []byte
	Status   int
}

// Server is the sandbox. It is safe for concurrent use.
type Server struct {
	cfg Config
	// routes are the fakes, the longest path first.
	routes []*route

	mu       sync.Mutex
	requests []Request
	script   []Answer
	windows  map[string]*window
	// refresh, access and codes are the OAuth tokens and authorization
	// codes issued and still good.
	refresh, access, codes map[string]grant
	issued                 []string
	// lose is how many token answers LoseAnswers still drops.
	lose int
	// forbidden are the ids whose access tokens the API refuses (Forbid).
	forbidden map[string]bool
}

type window struct {
	start      time.Time
	count      int
	day        time.Time
	dailyCount int
}

// route is a fake as one sandbox serves it.
type route struct {
	fake.Provider
	// api is the fake's handler, its path stripped.
	api http.Handler
	// oauth serves the OAuth endpoints below the fake's path: none when
	// the sandbox plays no OAuth or the fake takes none.
	oauth *http.ServeMux
}

// refuse answers in the fake's error shape.
func (f *route) refuse(w http.ResponseWriter, status int, code, message string) {
	fake.WriteJSON(w, status, f.ErrorBody(fake.Refusal{Status: status, Code: code, Message: message}))
}

// New returns a sandbox configured by cfg, serving the fakes registered
// so far.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, windows: map[string]*window{}, refresh: map[string]grant{}, access: map[string]grant{}, codes: map[string]grant{}, forbidden: map[string]bool{}}
	for _, f := range Fakes() {
		rt := &route{Provider: f, api: http.StripPrefix(f.Path, f.Handler()), oauth: http.NewServeMux()}
		if f.OAuth && cfg.OAuth != nil {
			rt.oauth.HandleFunc("POST "+f.Path+"/oauth/token", s.oauthToken)
			rt.oauth.HandleFunc("POST "+f.Path+"/oauth/locationToken", s.oauthLocationToken)
		}
		s.routes = append(s.routes, rt)
	}
	slices.SortStableFunc(s.routes, func(a, b *route) int { return len(b.Path) - len(a.Path) })
	return s
}

// route returns the fake a path belongs to: the one with the longest path
// it is below; nil when none.
func (s *Server) route(path string) *route {
	for _, f := range s.routes {
		if path == f.Path || strings.HasPrefix(path, f.Path+"/") {
			return f
		}
	}
	return nil
}

// Provider names the provider whose fake a request path belongs to; ""
// when none.
func (s *Server) Provider(path string) string {
	if f := s.route(path); f != nil {
		return f.Name
	}
	return ""
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Script makes the next len(answers) requests get these answers, in order,
// before any check.
func (s *Server) Script(answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, answers...)
}

// SetFaults changes the faults injected from now on.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Faults = f
}

// SetLogger makes the sandbox log each request through log from now on.
func (s *Server) SetLogger(log *zap.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Logger = log
}

// ServeHTTP answers one request as the provider would.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	f := s.route(r.URL.Path)
	var provider string
	if f != nil {
		provider = f.Name
	}
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	req := Request{At: time.Now(), Provider: provider, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	r.Body = io.NopCloser(bytes.NewReader(body))
	defer func() {
		req.Status = rec.status
		s.mu.Lock()
		s.requests = append(s.requests, req)
		log := s.cfg.Logger
		s.mu.Unlock()
		if log != nil {
			log.Info("sandbox: request", zap.String("provider", provider), zap.String("method", r.Method),
				zap.String("path", r.URL.Path), zap.Int("status", rec.status), zap.String("account", s.account(f, r)))
		}
	}()
	switch {
	case f == nil:
		http.NotFound(rec, r)
	case f.OAuth && strings.HasPrefix(r.URL.Path, f.Path+"/oauth/"):
		// Token requests are form-encoded and carry no app token.
		f.oauth.ServeHTTP(rec, r)
	case s.scripted(rec, r) || !s.authorized(rec, r, f) || !s.checkHeaders(rec, r, f) || s.limited(rec, r, f) || s.fault(rec, r, f):
	default:
		f.api.ServeHTTP(rec, r)
	}
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// wait holds the answer back for d, and reports false when the client went
// away meanwhile: the request is then recorded with status 0, unanswered.
func wait(w http.ResponseWriter, r *http.Request, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-r.Context().Done():
		if rec, ok := w.(*recorder); ok {
			rec.status = 0
		}
		return false
	}
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	if rec, ok := w.(*recorder); ok {
		rec.status = 0
		w = rec.ResponseWriter
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) scripted(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	if len(s.script) == 0 {
		s.mu.Unlock()
		return false
	}
	a := s.script[0]
	s.script = s.script[1:]
	s.mu.Unlock()
	if a.Delay > 0 && !wait(w, r, a.Delay) {
		return true
	}
	if a.Drop {
		drop(w)
		return true
	}
	for k, v := range a.Header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	if a.Cut {
		w.Header().Set("Content-Length", strconv.Itoa(len(a.Body)))
		w.WriteHeader(a.Status)
		_, _ = io.WriteString(w, a.Body[:len(a.Body)/2])
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(a.Status)
	_, _ = io.WriteString(w, a.Body)
	return true
}

func bearer(r *http.Request) string {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return token
}

// takesOAuth reports whether f takes the access tokens of the sandbox's OAuth.
func (s *Server) takesOAuth(f *route) bool {
	return f.OAuth && s.cfg.OAuth != nil
}

// account names the account of the request's token, for the log.
func (s *Server) account(f *route, r *http.Request) string {
	if f == nil {
		return "none"
	}
	token := bearer(r)
	known := s.cfg.Tokens[f.Name]
	if name, ok := known[token]; ok {
		return name
	}
	if g, ok := s.accessGrant(token); ok && s.takesOAuth(f) {
		return g.id
	}
	if token != "" && known == nil {
		return "any"
	}
	return "none"
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request, f *route) bool {
	token := bearer(r)
	known := s.cfg.Tokens[f.Name]
	oauth := s.takesOAuth(f)
	if _, ok := known[token]; token != "" && (ok || known == nil && !oauth) {
		return true
	}
	g, ok := s.accessGrant(token)
	switch {
	case ok && oauth && g.userType == UserCompany:
		f.refuse(w, http.StatusUnauthorized, "unauthorized", "an agency (Company) token: this endpoint takes a Sub-Account (Location) token")
		return false
	case ok && oauth && s.permits(g):
		return true
	}
	f.refuse(w, http.StatusUnauthorized, "unauthorized", "invalid or missing bearer token")
	return false
}

func (s *Server) checkHeaders(w http.ResponseWriter, r *http.Request, f *route) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		f.refuse(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
		return false
	}
	if f.Check == nil {
		return true
	}
	if bad := f.Check(r); bad != nil {
		f.refuse(w, bad.Status, bad.Code, bad.Message)
		return false
	}
	return true
}

// limited enforces the token's rate limit and writes the provider's
// rate-limit headers on every answer.
func (s *Server) limited(w http.ResponseWriter, r *http.Request, f *route) bool {
	limit := s.cfg.Limits[f.Name]
	if limit.Count == 0 && limit.Daily == 0 {
		return false
	}
	now := time.Now()
	s.mu.Lock()
	key := f.Name + "\x00" + bearer(r)
	win := s.windows[key]
	if win == nil {
		win = &window{start: now, day: now}
		s.windows[key] = win
	}
	if limit.Period > 0 && now.Sub(win.start) >= limit.Period {
		win.start, win.count = now.Truncate(limit.Period), 0
	}
	if now.Sub(win.day) >= 24*time.Hour {
		win.day, win.dailyCount = now, 0
	}
	over := limit.Count > 0 && win.count >= limit.Count || limit.Daily > 0 && win.dailyCount >= limit.Daily
	if !over {
		win.count++
		win.dailyCount++
	}
	state := fake.Window{
		Count: limit.Count, Remaining: max(limit.Count-win.count, 0),
		Period: limit.Period, Reset: win.start.Add(limit.Period).Sub(now),
		Daily: limit.Daily, DailyRemaining: max(limit.Daily-win.dailyCount, 0),
		DailyReset: win.day.Add(24 * time.Hour).Sub(now),
	}
	s.mu.Unlock()

	if f.RateHeaders != nil {
		f.RateHeaders(w.Header(), state)
	}
	if over {
		f.refuse(w, http.StatusTooManyRequests, "rate_limited", "Too Many Requests")
	}
	return over
}

func (s *Server) fault(w http.ResponseWriter, r *http.Request, f *route) bool {
	s.mu.Lock()
	faults := s.cfg.Faults
	s.mu.Unlock()
	x := rand.Float64()
	switch {
	case x < faults.Drops:
		drop(w)
	case x < faults.Drops+faults.ServerErrors:
		f.refuse(w, http.StatusServiceUnavailable, "unavailable", "Service Unavailable (sandbox fault)")
	case x < faults.Drops+faults.ServerErrors+faults.ClientErrors:
		f.refuse(w, http.StatusBadRequest, "bad_request", "Bad Request (sandbox fault)")
	case x < faults.Drops+faults.ServerErrors+faults.ClientErrors+faults.Slow:
		return !wait(w, r, faults.SlowDelay)
	default:
		return false
	}
	return true
}
