package senders_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/sendertest"
	"github.com/punctualhq/punctual/senders"
)

func apiError(provider, op string, status int, retryAfter time.Duration) error {
	return &senders.APIError{Provider: provider, Operation: op, StatusCode: status, RetryAfter: retryAfter}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	const (
		mateo = "mateo"
		lc    = "leadconnector"
		send  = "send_message"
		patch = "update_conversation"
	)
	type want struct {
		outcome senders.Outcome
		wait    time.Duration
	}
	tests := []struct {
		name string
		err  error
		want want
	}{
		{"nil", nil, want{senders.Success, 0}},
		{"2xx", apiError(mateo, send, 201, 0), want{senders.Success, 0}},

		{"409 mateo send_message", apiError(mateo, send, 409, 0), want{senders.Duplicate, 0}},
		{"409 mateo send_message wrapped", fmt.Errorf("task: %w", apiError(mateo, send, 409, 0)), want{senders.Duplicate, 0}},
		{"409 mateo update_conversation", apiError(mateo, patch, 409, 0), want{senders.Permanent, 0}},
		{"429 is never a duplicate", apiError(mateo, send, 429, 0), want{senders.Wait, time.Second}},
		{"409 leadconnector send_message", apiError(lc, send, 409, 0), want{senders.Permanent, 0}},

		{"429 with a wait", apiError(lc, send, 429, 3*time.Second), want{senders.Wait, 3 * time.Second}},
		{"429 without a wait", apiError(mateo, send, 429, 0), want{senders.Wait, time.Second}},
		{"429 on update_conversation", apiError(mateo, patch, 429, 1500*time.Millisecond), want{senders.Wait, 1500 * time.Millisecond}},
		{"429 with the longest wait", apiError(lc, send, 429, time.Hour), want{senders.Wait, time.Hour}},
		// A provider asking for more than MaxWait is broken, not busy: fail and back off.
		{"429 with a wait too long", apiError(lc, send, 429, time.Hour+time.Second), want{senders.Retry, 0}},
		{"429 with a wait beyond a Duration", apiError(mateo, send, 429, math.MaxInt64), want{senders.Retry, 0}},

		{"408", apiError(mateo, send, 408, 0), want{senders.Retry, 0}},
		{"425", apiError(mateo, send, 425, 0), want{senders.Retry, 0}},
		{"500", apiError(mateo, send, 500, 0), want{senders.Retry, 0}},
		{"501", apiError(lc, send, 501, 0), want{senders.Retry, 0}},
		{"502", apiError(lc, send, 502, 0), want{senders.Retry, 0}},
		{"503", apiError(mateo, patch, 503, 0), want{senders.Retry, 0}},
		{"503 with Retry-After", apiError(mateo, send, 503, 7*time.Second), want{senders.Retry, 7 * time.Second}},
		{"503 with the longest Retry-After", apiError(mateo, send, 503, time.Hour), want{senders.Retry, time.Hour}},
		{"503 with a Retry-After too long", apiError(mateo, send, 503, time.Hour+time.Second), want{senders.Retry, 0}},
		{"503 with a Retry-After beyond a Duration", apiError(lc, send, 503, math.MaxInt64), want{senders.Retry, 0}},
		{"504", apiError(lc, send, 504, 0), want{senders.Retry, 0}},
		{"507", apiError(lc, send, 507, 0), want{senders.Retry, 0}},
		{"599", apiError(mateo, send, 599, 0), want{senders.Retry, 0}},

		{"400", apiError(mateo, send, 400, 0), want{senders.Permanent, 0}},
		{"401", apiError(lc, send, 401, 0), want{senders.Permanent, 0}},
		{"403", apiError(lc, send, 403, 0), want{senders.Permanent, 0}},
		{"404", apiError(mateo, patch, 404, 0), want{senders.Permanent, 0}},
		{"404 with a wait", apiError(mateo, send, 404, 5*time.Second), want{senders.Permanent, 0}},
		{"405", apiError(mateo, send, 405, 0), want{senders.Permanent, 0}},
		{"410", apiError(lc, send, 410, 0), want{senders.Permanent, 0}},
		{"413", apiError(lc, send, 413, 0), want{senders.Permanent, 0}},
		{"422", apiError(lc, send, 422, 0), want{senders.Permanent, 0}},

		{"ErrInvalidRequest", fmt.Errorf("mateo send_message: %w: json: unsupported value", senders.ErrInvalidRequest), want{senders.Permanent, 0}},
		{"ErrNotFound", fmt.Errorf("mateo update_conversation: no conversation: %w", senders.ErrNotFound), want{senders.Permanent, 0}},

		{"outcome unknown", fmt.Errorf("mateo send_message: %w: %w", senders.ErrOutcomeUnknown, io.EOF), want{senders.Unknown, 0}},
		{"outcome unknown on a timeout", fmt.Errorf("mateo send_message: %w: %w", senders.ErrOutcomeUnknown, context.DeadlineExceeded), want{senders.Unknown, 0}},

		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, want{senders.Retry, 0}},
		{"connection reset", fmt.Errorf("mateo send_message: %w", syscall.ECONNRESET), want{senders.Retry, 0}},
		{"DNS", &net.DNSError{Err: "no such host", Name: "integration.getmateo.com", IsTemporary: true}, want{senders.Retry, 0}},
		{"unexpected EOF", fmt.Errorf("leadconnector send_message: %w", io.ErrUnexpectedEOF), want{senders.Retry, 0}},
		{"deadline", fmt.Errorf("mateo send_message: %w", context.DeadlineExceeded), want{senders.Retry, 0}},
		{"cancelled", fmt.Errorf("mateo send_message: %w", context.Canceled), want{senders.Retry, 0}},
		{"unknown error", errors.New("something else"), want{senders.Retry, 0}},
	}
	// An operation's duplicate rule, as Mateo's send_message has one.
	conflict := func(e *senders.APIError) bool {
		return e.StatusCode == 409 && e.Provider == mateo && e.Operation == send
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			outcome, wait := senders.DefaultPolicy().Classify(tt.err, conflict)
			if got := (want{outcome, wait}); got != tt.want {
				t.Errorf("Classify(%v) = %s, %s; want %s, %s", tt.err, outcome, wait, tt.want.outcome, tt.want.wait)
			}
		})
	}
}

func TestClassifyConfigured(t *testing.T) {
	t.Parallel()
	p := senders.Policy{RetryStatuses: []int{500, 409}, DefaultWait: 30 * time.Second}
	const forever = time.Duration(math.MaxInt64)
	tests := []struct {
		status     int
		retryAfter time.Duration
		want       senders.Outcome
		wait       time.Duration
	}{
		{500, 0, senders.Retry, 0},
		{502, 0, senders.Permanent, 0}, // not listed, and 5xx are not all retried
		{409, 0, senders.Retry, 0},
		{408, 0, senders.Permanent, 0},
		{429, 0, senders.Wait, 30 * time.Second},
		// No MaxWait: every wait is honoured.
		{429, forever, senders.Wait, forever},
		{500, forever, senders.Retry, forever},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, " ", tt.retryAfter), func(t *testing.T) {
			t.Parallel()
			outcome, wait := p.Classify(apiError("leadconnector", "send_message", tt.status, tt.retryAfter), nil)
			if outcome != tt.want || wait != tt.wait {
				t.Errorf("Classify(%d, %s) = %s, %s; want %s, %s", tt.status, tt.retryAfter, outcome, wait, tt.want, tt.wait)
			}
		})
	}
}

func TestOutcomeString(t *testing.T) {
	t.Parallel()
	// The numbers are kept: an outcome added goes last.
	want := []struct {
		outcome senders.Outcome
		number  int
		name    string
	}{
		{senders.Success, 0, "success"},
		{senders.Duplicate, 1, "duplicate"},
		{senders.Retry, 2, "retry"},
		{senders.Wait, 3, "wait"},
		{senders.Permanent, 4, "permanent"},
		{senders.Unknown, 5, "unknown"},
		{senders.Outcome(6), 6, "outcome(6)"},
		{senders.Outcome(-1), -1, "outcome(-1)"},
	}
	for _, w := range want {
		if int(w.outcome) != w.number || w.outcome.String() != w.name {
			t.Errorf("Outcome(%d).String() = %q, want Outcome(%d) %q", int(w.outcome), w.outcome.String(), w.number, w.name)
		}
	}
}

func TestClassifyAbsurdWait(t *testing.T) {
	t.Parallel()
	farFuture := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Format(http.TimeFormat)
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		for _, retryAfter := range []string{"1000000000000", farFuture} {
			t.Run(fmt.Sprint(status, " ", retryAfter), func(t *testing.T) {
				t.Parallel()
				tr, _ := setup(t, sendertest.Answer{Status: status, Header: map[string]string{"Retry-After": retryAfter}})
				_, err := senders.Call[reply](context.Background(), tr, "send_message", http.MethodPost, "/message", nil, "tok", []byte(`{}`))
				var apiErr *senders.APIError
				if !errors.As(err, &apiErr) || apiErr.RetryAfter != math.MaxInt64 {
					t.Fatalf("error = %#v, want an *APIError asking for the longest wait", err)
				}
				if outcome, wait := senders.DefaultPolicy().Classify(err, nil); outcome != senders.Retry || wait != 0 {
					t.Errorf("Classify = %s, %s; want retry, 0s", outcome, wait)
				}
			})
		}
	}
}
