package senders_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"punctual/senders"
)

func apiError(provider, op string, status int, retryAfter time.Duration) error {
	return &senders.APIError{Provider: provider, Operation: op, StatusCode: status, RetryAfter: retryAfter}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	const (
		mateo = senders.Mateo
		lc    = senders.LeadConnector
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
		{"409 leadconnector send_message", apiError(lc, send, 409, 0), want{senders.Permanent, 0}},

		{"429 with a wait", apiError(lc, send, 429, 3*time.Second), want{senders.Wait, 3 * time.Second}},
		{"429 without a wait", apiError(mateo, send, 429, 0), want{senders.Wait, time.Second}},
		{"429 on update_conversation", apiError(mateo, patch, 429, 1500*time.Millisecond), want{senders.Wait, 1500 * time.Millisecond}},

		{"408", apiError(mateo, send, 408, 0), want{senders.Retry, 0}},
		{"425", apiError(mateo, send, 425, 0), want{senders.Retry, 0}},
		{"500", apiError(mateo, send, 500, 0), want{senders.Retry, 0}},
		{"501", apiError(lc, send, 501, 0), want{senders.Retry, 0}},
		{"502", apiError(lc, send, 502, 0), want{senders.Retry, 0}},
		{"503", apiError(mateo, patch, 503, 0), want{senders.Retry, 0}},
		{"503 with Retry-After", apiError(mateo, send, 503, 7*time.Second), want{senders.Retry, 7 * time.Second}},
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

		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, want{senders.Retry, 0}},
		{"connection reset", fmt.Errorf("mateo send_message: %w", syscall.ECONNRESET), want{senders.Retry, 0}},
		{"DNS", &net.DNSError{Err: "no such host", Name: "integration.getmateo.com", IsTemporary: true}, want{senders.Retry, 0}},
		{"unexpected EOF", fmt.Errorf("leadconnector send_message: %w", io.ErrUnexpectedEOF), want{senders.Retry, 0}},
		{"deadline", fmt.Errorf("mateo send_message: %w", context.DeadlineExceeded), want{senders.Retry, 0}},
		{"cancelled", fmt.Errorf("mateo send_message: %w", context.Canceled), want{senders.Retry, 0}},
		{"unknown error", errors.New("something else"), want{senders.Retry, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			outcome, wait := senders.DefaultPolicy().Classify(tt.err)
			if got := (want{outcome, wait}); got != tt.want {
				t.Errorf("Classify(%v) = %s, %s; want %s, %s", tt.err, outcome, wait, tt.want.outcome, tt.want.wait)
			}
		})
	}
}

func TestClassifyConfigured(t *testing.T) {
	t.Parallel()
	p := senders.Policy{RetryStatuses: []int{500, 409}, DefaultWait: 30 * time.Second}
	tests := []struct {
		status int
		want   senders.Outcome
		wait   time.Duration
	}{
		{500, senders.Retry, 0},
		{502, senders.Permanent, 0}, // not listed, and 5xx are not all retried
		{409, senders.Retry, 0},
		{408, senders.Permanent, 0},
		{429, senders.Wait, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			outcome, wait := p.Classify(apiError(senders.LeadConnector, "send_message", tt.status, 0))
			if outcome != tt.want || wait != tt.wait {
				t.Errorf("Classify(%d) = %s, %s; want %s, %s", tt.status, outcome, wait, tt.want, tt.wait)
			}
		})
	}
}

func TestOutcomeString(t *testing.T) {
	t.Parallel()
	want := map[senders.Outcome]string{
		senders.Success:   "success",
		senders.Duplicate: "duplicate",
		senders.Retry:     "retry",
		senders.Wait:      "wait",
		senders.Permanent: "permanent",
	}
	for o, s := range want {
		if o.String() != s {
			t.Errorf("Outcome(%d).String() = %q, want %q", int(o), o.String(), s)
		}
	}
}
