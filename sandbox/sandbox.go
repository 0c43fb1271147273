// Package sandbox is an HTTP server that plays Mateo and LeadConnector for
// dev mode, tests and benchmarks. It checks the bearer token and headers,
// validates each request against the providers' documented schemas,
// answers with the documented shapes and fresh ids, refuses a repeated
// Mateo message id with 409, enforces per-token rate limits with the
// providers' own headers and 429s, injects faults on request, and records
// every request it receives. It can play HighLevel's OAuth too (OAuth):
// rotating single-use refresh tokens and access tokens that expire.
//
// Mateo lives under /api/v1 and LeadConnector at the root, so one server
// is both base URLs: MATEO_BASE_URL=http://HOST/api/v1 and
// LEADCONNECTOR_BASE_URL=http://HOST.
package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
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
	// MateoTokens and LeadConnectorTokens are the accepted tokens, each
	// naming an account in the log; any non-empty token when nil.
	MateoTokens         map[string]string
	LeadConnectorTokens map[string]string
	// MateoLimit and LeadConnectorLimit apply to each token.
	MateoLimit         Limit
	LeadConnectorLimit Limit
	// Faults are injected at random.
	Faults Faults
	// OAuth, when set, plays HighLevel's OAuth: LeadConnector then takes
	// the access tokens it issued as well as LeadConnectorTokens (none
	// other when that is nil).
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
	mux *http.ServeMux

	mu       sync.Mutex
	requests []Request
	script   []Answer
	messages map[string]bool // Mateo message ids sent
	windows  map[string]*window
	// refresh and access are the OAuth tokens issued and still good.
	refresh, access map[string]grant
	issued          []string
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

// New returns a sandbox configured by cfg.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, messages: map[string]bool{}, windows: map[string]*window{}, refresh: map[string]grant{}, access: map[string]grant{}, forbidden: map[string]bool{}}
	s.mux = http.NewServeMux()
	if cfg.OAuth != nil {
		s.mux.HandleFunc("POST /oauth/token", s.oauthToken)
		s.mux.HandleFunc("POST /oauth/locationToken", s.oauthLocationToken)
	}
	s.mux.HandleFunc("POST /api/v1/send_message", s.mateoSendMessage)
	s.mux.HandleFunc("PATCH /api/v1/conversation", s.mateoUpdateConversation)
	s.mux.HandleFunc("POST /conversations/messages", s.leadConnectorSendMessage)
	return s
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
	provider := leadconnector.Name
	if strings.HasPrefix(r.URL.Path, "/api/v1/") {
		provider = mateo.Name
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
				zap.String("path", r.URL.Path), zap.Int("status", rec.status), zap.String("account", s.account(provider, r)))
		}
	}()
	if strings.HasPrefix(r.URL.Path, "/oauth/") {
		// Token requests are form-encoded and carry no app token.
		s.mux.ServeHTTP(rec, r)
		return
	}
	if s.scripted(rec, r) || !s.authorized(rec, r, provider) || !s.checkHeaders(rec, r, provider) || s.limited(rec, r, provider) || s.fault(rec, r, provider) {
		return
	}
	s.mux.ServeHTTP(rec, r)
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

func (s *Server) tokens(provider string) map[string]string {
	if provider == mateo.Name {
		return s.cfg.MateoTokens
	}
	return s.cfg.LeadConnectorTokens
}

// account names the account of the request's token, for the log.
func (s *Server) account(provider string, r *http.Request) string {
	token := bearer(r)
	if name, ok := s.tokens(provider)[token]; ok {
		return name
	}
	if g, ok := s.accessGrant(token); ok && provider == leadconnector.Name && s.cfg.OAuth != nil {
		return g.id
	}
	if token != "" && s.tokens(provider) == nil {
		return "any"
	}
	return "none"
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request, provider string) bool {
	token := bearer(r)
	known := s.tokens(provider)
	oauth := provider == leadconnector.Name && s.cfg.OAuth != nil
	if _, ok := known[token]; token != "" && (ok || known == nil && !oauth) {
		return true
	}
	if g, ok := s.accessGrant(token); ok && oauth && s.permits(g) {
		return true
	}
	writeError(w, provider, http.StatusUnauthorized, "unauthorized", "invalid or missing bearer token")
	return false
}

func (s *Server) checkHeaders(w http.ResponseWriter, r *http.Request, provider string) bool {
	switch {
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		writeError(w, provider, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	case provider == leadconnector.Name && r.Header.Get("Version") == "":
		writeError(w, provider, http.StatusBadRequest, "Bad Request", "version header is required")
	default:
		return true
	}
	return false
}

// limited enforces the token's rate limit and writes the provider's
// rate-limit headers on every answer.
func (s *Server) limited(w http.ResponseWriter, r *http.Request, provider string) bool {
	limit := s.cfg.MateoLimit
	if provider == leadconnector.Name {
		limit = s.cfg.LeadConnectorLimit
	}
	if limit.Count == 0 && limit.Daily == 0 {
		return false
	}
	now := time.Now()
	s.mu.Lock()
	key := provider + "\x00" + bearer(r)
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
	remaining, dailyRemaining := max(limit.Count-win.count, 0), max(limit.Daily-win.dailyCount, 0)
	// Mateo's one set of headers describes the window with the least room
	// left: the daily one when it is the only one or has no more room.
	mateoLimit, mateoRemaining, reset := limit.Count, remaining, win.start.Add(limit.Period).Sub(now)
	if limit.Daily > 0 && (limit.Count == 0 || dailyRemaining <= remaining) {
		mateoLimit, mateoRemaining, reset = limit.Daily, dailyRemaining, win.day.Add(24*time.Hour).Sub(now)
	}
	s.mu.Unlock()

	h := w.Header()
	if provider == mateo.Name {
		h.Set("Ratelimit-Limit", strconv.Itoa(mateoLimit))
		h.Set("Ratelimit-Remaining", strconv.Itoa(mateoRemaining))
		h.Set("Ratelimit-Reset", strconv.Itoa(int((reset+time.Second-1)/time.Second)))
	} else {
		h.Set("X-Ratelimit-Max", strconv.Itoa(limit.Count))
		h.Set("X-Ratelimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-Ratelimit-Interval-Milliseconds", strconv.Itoa(int(limit.Period/time.Millisecond)))
		h.Set("X-Ratelimit-Limit-Daily", strconv.Itoa(limit.Daily))
		h.Set("X-Ratelimit-Daily-Remaining", strconv.Itoa(dailyRemaining))
	}
	if over {
		writeError(w, provider, http.StatusTooManyRequests, "rate_limited", "Too Many Requests")
	}
	return over
}

func (s *Server) fault(w http.ResponseWriter, r *http.Request, provider string) bool {
	s.mu.Lock()
	f := s.cfg.Faults
	s.mu.Unlock()
	x := rand.Float64()
	switch {
	case x < f.Drops:
		drop(w)
	case x < f.Drops+f.ServerErrors:
		writeError(w, provider, http.StatusServiceUnavailable, "unavailable", "Service Unavailable (sandbox fault)")
	case x < f.Drops+f.ServerErrors+f.ClientErrors:
		writeError(w, provider, http.StatusBadRequest, "bad_request", "Bad Request (sandbox fault)")
	case x < f.Drops+f.ServerErrors+f.ClientErrors+f.Slow:
		return !wait(w, r, f.SlowDelay)
	default:
		return false
	}
	return true
}

// writeError answers in the provider's error shape: Mateo
// {"code","message","hint","status"}, LeadConnector {"statusCode","message","error"}.
func writeError(w http.ResponseWriter, provider string, status int, code, message string) {
	if provider == mateo.Name {
		writeJSON(w, status, map[string]any{"code": code, "message": message, "hint": nil, "status": status})
		return
	}
	writeJSON(w, status, map[string]any{"statusCode": status, "message": message, "error": http.StatusText(status)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
