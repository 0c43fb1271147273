package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// loggedRequest is one line of the request log: a request as it was
// received, with the status it was answered (0 when it got none).
type loggedRequest struct {
	At       time.Time       `json:"at"`
	Provider string          `json:"provider"`
	Method   string          `json:"method"`
	Path     string          `json:"path"`
	Status   int             `json:"status"`
	Account  string          `json:"account"`
	Body     json.RawMessage `json:"body"`
}

// requestLog appends one JSON line per request to a file, buffered and
// flushed every flushEvery and on close, so that a reader sees every
// request once the sandbox has stopped and most of them while it runs.
type requestLog struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

const flushEvery = 200 * time.Millisecond

// openRequestLog opens path for appending, creating it.
func openRequestLog(path string) (*requestLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	l := &requestLog{f: f, w: bufio.NewWriterSize(f, 1<<16), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushing()
	return l, nil
}

func (l *requestLog) flushing() {
	defer close(l.done)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			l.mu.Lock()
			_ = l.w.Flush()
			l.mu.Unlock()
		case <-l.stop:
			return
		}
	}
}

// write appends one request.
func (l *requestLog) write(r loggedRequest) {
	if !json.Valid(r.Body) {
		r.Body, _ = json.Marshal(string(r.Body)) // kept, as a string
	}
	line, _ := json.Marshal(r) // cannot fail: the body is valid JSON
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(append(line, '\n'))
}

// close flushes what is left and closes the file.
func (l *requestLog) close() error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// logging wraps next so that every request it serves is written to the
// log, even one whose handler aborts. provider names the provider of a
// request's path, and tokens the account of a bearer token per provider,
// as the sandbox's own log names them.
func (l *requestLog) logging(next http.Handler, provider func(path string) string, tokens map[string]map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		provider := provider(r.URL.Path)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			l.write(loggedRequest{At: at.UTC(), Provider: provider, Method: r.Method, Path: r.URL.Path,
				Status: sw.status, Account: account(tokens[provider], r), Body: body})
		}()
		next.ServeHTTP(sw, r)
	})
}

// account names the account of the request's bearer token: the name its
// token maps to, "any" when every token is accepted, "none" otherwise. The
// token itself is never logged.
func account(tokens map[string]string, r *http.Request) string {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch name, known := tokens[token]; {
	case ok && known:
		return name
	case ok && token != "" && tokens == nil:
		return "any"
	}
	return "none"
}

// statusWriter notes the status written through it; a hijacked connection
// (closed without an answer) leaves it 0.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack lets the sandbox drop a connection without an answer.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}
