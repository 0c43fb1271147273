package senders

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxErrorBody is how much of an error answer's body is read and kept.
const maxErrorBody = 1 << 20

// APIError is a provider's non-2xx answer.
type APIError struct {
	// Provider names the provider that answered.
	Provider string
	// Operation is the task type's action: "send_message".
	Operation string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the provider's error code (Mateo `code`, LeadConnector `error`).
	Code string
	// Message is the provider's message; LeadConnector's arrays are joined with "; ".
	Message string
	// Hint is Mateo's hint, if any.
	Hint string
	// RetryAfter is how long the provider asked to wait before the next
	// request, from Retry-After or its rate-limit headers; 0 when it did not say.
	RetryAfter time.Duration
	// Body is the answer's body, at most 1 MiB.
	Body []byte
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Provider, e.Operation, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	switch {
	case e.Message != "":
		b.WriteString(": " + e.Message)
	case len(e.Body) > 0:
		b.WriteString(": " + truncate(string(e.Body), 1024))
	}
	if e.Hint != "" {
		b.WriteString(" (hint: " + e.Hint + ")")
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after " + e.RetryAfter.String() + ")")
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// newAPIError builds the error for a non-2xx answer whose body has been read.
func newAPIError(provider, op string, resp *http.Response, body []byte, now time.Time) *APIError {
	e := &APIError{
		Provider:   provider,
		Operation:  op,
		StatusCode: resp.StatusCode,
		Body:       body,
		RetryAfter: RetryAfter(resp.StatusCode, resp.Header, now),
	}
	// Mateo: {"code","message","hint","status"}; LeadConnector:
	// {"statusCode","message","error"} with message a string or an array.
	var shape struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
		Hint    json.RawMessage `json:"hint"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &shape) == nil {
		e.Code = text(shape.Code)
		if e.Code == "" {
			e.Code = text(shape.Error)
		}
		e.Message = text(shape.Message)
		e.Hint = text(shape.Hint)
	}
	return e
}

// text renders a JSON string, number or array of strings as plain text.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, "; ")
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// RetryAfter reads how long an answer asks the client to wait: Retry-After
// (seconds or an HTTP date); on a 429 or an exhausted window also
// ratelimit-reset (IETF draft, seconds) and, on a 429,
// X-RateLimit-Interval-Milliseconds (LeadConnector's window). It returns 0
// when the answer names no wait.
func RetryAfter(status int, h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After"); v != "" {
		if d, ok := seconds(v); ok {
			return d
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	limited := status == http.StatusTooManyRequests
	if v := h.Get("Ratelimit-Reset"); v != "" && (limited || h.Get("Ratelimit-Remaining") == "0") {
		if d, ok := seconds(v); ok {
			return d
		}
	}
	if v := h.Get("X-Ratelimit-Interval-Milliseconds"); v != "" && limited {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 {
			return time.Duration(min(ms, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond
		}
	}
	return 0
}

// seconds reads a wait given in seconds. A wait longer than a Duration holds
// is the longest Duration, not one that overflows to a negative.
func seconds(v string) (time.Duration, bool) {
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || secs < 0 || math.IsNaN(secs) || math.IsInf(secs, 0) {
		return 0, false
	}
	if secs >= math.MaxInt64/float64(time.Second) {
		return math.MaxInt64, true
	}
	return time.Duration(secs * float64(time.Second)), true
}
