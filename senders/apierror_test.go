package senders

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// now is the fixed clock of these tests.
var now = time.Date(2026, 11, 21, 18, 0, 0, 0, time.UTC)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	const tooMany = http.StatusTooManyRequests
	tests := []struct {
		name   string
		status int
		header http.Header
		want   time.Duration
	}{
		{"none", tooMany, header(), 0},
		{"seconds", tooMany, header("Retry-After", "3"), 3 * time.Second},
		{"seconds on a 503", 503, header("Retry-After", "120"), 2 * time.Minute},
		{"zero", tooMany, header("Retry-After", "0"), 0},
		{"fraction", tooMany, header("Retry-After", "1.5"), 1500 * time.Millisecond},
		{"HTTP date", tooMany, header("Retry-After", now.Add(30*time.Second).Format(http.TimeFormat)), 30 * time.Second},
		{"HTTP date RFC 850", 503, header("Retry-After", now.Add(time.Hour).Format(time.RFC850)), time.Hour},
		{"HTTP date ANSI C", 503, header("Retry-After", now.Add(90*time.Second).Format(time.ANSIC)), 90 * time.Second},
		{"HTTP date in the past", tooMany, header("Retry-After", now.Add(-time.Minute).Format(http.TimeFormat)), 0},
		{"negative", tooMany, header("Retry-After", "-5"), 0},
		{"garbage", tooMany, header("Retry-After", "soon"), 0},
		{"not a number", tooMany, header("Retry-After", "NaN"), 0},
		{"beyond a Duration", tooMany, header("Retry-After", "1e12"), time.Duration(1<<63 - 1)},
		{"31,000 years", 503, header("Retry-After", "1000000000000"), time.Duration(1<<63 - 1)},
		{"more digits than an int64", tooMany, header("Retry-After", "123456789012345678901234567890"), time.Duration(1<<63 - 1)},
		{"the longest Duration in seconds", tooMany, header("Retry-After", "9223372036.854776"), time.Duration(1<<63 - 1)},
		{"just under the longest Duration", tooMany, header("Retry-After", "9223372036.854774"), 9223372036854774784},
		{"HTTP date in year 9999", 503, header("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"), time.Duration(1<<63 - 1)},
		{"ratelimit-reset beyond a Duration", tooMany, header("ratelimit-reset", "1000000000000"), time.Duration(1<<63 - 1)},
		{"infinite", tooMany, header("Retry-After", "+Inf"), 0},

		{"ratelimit-reset on a 429", tooMany, header("ratelimit-reset", "5", "ratelimit-remaining", "3"), 5 * time.Second},
		{"ratelimit-reset when remaining 0", 403, header("ratelimit-reset", "5", "ratelimit-remaining", "0"), 5 * time.Second},
		{"ratelimit-reset on a 200 with remaining", 200, header("ratelimit-limit", "2", "ratelimit-reset", "1", "ratelimit-remaining", "1"), 0},
		{"ratelimit-reset on a 503 without remaining", 503, header("ratelimit-reset", "5"), 0},
		{"ratelimit-reset garbage", tooMany, header("ratelimit-reset", "later"), 0},
		{"Retry-After wins over ratelimit-reset", tooMany, header("Retry-After", "2", "ratelimit-reset", "9"), 2 * time.Second},
		{"bad Retry-After falls back to ratelimit-reset", tooMany, header("Retry-After", "soon", "ratelimit-reset", "9"), 9 * time.Second},

		{"LeadConnector interval on a 429", tooMany, header("X-RateLimit-Interval-Milliseconds", "10000", "X-RateLimit-Remaining", "0", "X-RateLimit-Max", "100"), 10 * time.Second},
		{"LeadConnector interval on a 200", 200, header("X-RateLimit-Interval-Milliseconds", "10000", "X-RateLimit-Remaining", "0"), 0},
		{"LeadConnector interval on a 500", 500, header("X-RateLimit-Interval-Milliseconds", "10000"), 0},
		{"LeadConnector interval beyond a Duration", tooMany, header("X-RateLimit-Interval-Milliseconds", "9223372036854775807"), time.Duration(1<<63-1) / time.Millisecond * time.Millisecond},
		{"LeadConnector interval garbage", tooMany, header("X-RateLimit-Interval-Milliseconds", "10s"), 0},
		{"Retry-After wins over the interval", tooMany, header("Retry-After", "1", "X-RateLimit-Interval-Milliseconds", "10000"), time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := RetryAfter(tt.status, tt.header, now); got != tt.want {
				t.Errorf("RetryAfter(%d, %v) = %s, want %s", tt.status, tt.header, got, tt.want)
			}
		})
	}
}

func TestNewAPIError(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1100)
	tests := []struct {
		name      string
		provider  string
		status    int
		header    http.Header
		body      string
		want      APIError // Provider, Operation, StatusCode and Body are checked apart
		wantError string
	}{
		{
			name:     "mateo",
			provider: "mateo", status: 400,
			body:      `{"code":"PGRST204","message":"Could not find the 'colour' column","hint":"Check the field names","status":400}`,
			want:      APIError{Code: "PGRST204", Message: "Could not find the 'colour' column", Hint: "Check the field names"},
			wantError: "mateo send_message: 400 Bad Request: PGRST204: Could not find the 'colour' column (hint: Check the field names)",
		},
		{
			name:     "mateo documented 400",
			provider: "mateo", status: 400,
			body:      `{"code":"invalid_input","message":"A postal recipient needs a contact_id and no handle","statusCode":400}`,
			want:      APIError{Code: "invalid_input", Message: "A postal recipient needs a contact_id and no handle"},
			wantError: "mateo send_message: 400 Bad Request: invalid_input: A postal recipient needs a contact_id and no handle",
		},
		{
			name:     "mateo null hint",
			provider: "mateo", status: 404,
			body:      `{"code":"PGRST116","message":"no rows","hint":null,"details":null}`,
			want:      APIError{Code: "PGRST116", Message: "no rows"},
			wantError: "mateo send_message: 404 Not Found: PGRST116: no rows",
		},
		{
			name:     "mateo rate limited",
			provider: "mateo", status: 429,
			header:    header("ratelimit-limit", "2", "ratelimit-remaining", "0", "ratelimit-reset", "1"),
			body:      `{"code":"rate_limited","message":"Too many requests"}`,
			want:      APIError{Code: "rate_limited", Message: "Too many requests", RetryAfter: time.Second},
			wantError: "mateo send_message: 429 Too Many Requests: rate_limited: Too many requests (retry after 1s)",
		},
		{
			name:     "numeric code",
			provider: "mateo", status: 500,
			body:      `{"code":42,"message":"boom"}`,
			want:      APIError{Code: "42", Message: "boom"},
			wantError: "mateo send_message: 500 Internal Server Error: 42: boom",
		},
		{
			name:     "leadconnector message string",
			provider: "leadconnector", status: 401,
			body:      `{"statusCode":401,"message":"Invalid JWT","error":"Unauthorized"}`,
			want:      APIError{Code: "Unauthorized", Message: "Invalid JWT"},
			wantError: "leadconnector send_message: 401 Unauthorized: Unauthorized: Invalid JWT",
		},
		{
			name:     "leadconnector message array",
			provider: "leadconnector", status: 422,
			body:      `{"statusCode":422,"message":["type must be one of the following values: SMS, Email","contactId should not be empty"],"error":"Unprocessable Entity"}`,
			want:      APIError{Code: "Unprocessable Entity", Message: "type must be one of the following values: SMS, Email; contactId should not be empty"},
			wantError: "leadconnector send_message: 422 Unprocessable Entity: Unprocessable Entity: type must be one of the following values: SMS, Email; contactId should not be empty",
		},
		{
			name:     "leadconnector rate limited",
			provider: "leadconnector", status: 429,
			header:    header("X-RateLimit-Interval-Milliseconds", "10000", "X-RateLimit-Remaining", "0"),
			body:      `{"statusCode":429,"message":"Too many requests"}`,
			want:      APIError{Message: "Too many requests", RetryAfter: 10 * time.Second},
			wantError: "leadconnector send_message: 429 Too Many Requests: Too many requests (retry after 10s)",
		},
		{
			name:     "not JSON",
			provider: "leadconnector", status: 502,
			body:      "<html>Bad gateway</html>",
			wantError: "leadconnector send_message: 502 Bad Gateway: <html>Bad gateway</html>",
		},
		{
			name:     "JSON array",
			provider: "mateo", status: 400,
			body:      `["bad"]`,
			wantError: `mateo send_message: 400 Bad Request: ["bad"]`,
		},
		{
			name:     "JSON of other types",
			provider: "mateo", status: 400,
			body:      `{"code":{"a":1},"message":[1,2]}`,
			wantError: `mateo send_message: 400 Bad Request: {"code":{"a":1},"message":[1,2]}`,
		},
		{
			name:     "empty body",
			provider: "mateo", status: 503,
			header:    header("Retry-After", "30"),
			want:      APIError{RetryAfter: 30 * time.Second},
			wantError: "mateo send_message: 503 Service Unavailable (retry after 30s)",
		},
		{
			name:     "long body",
			provider: "mateo", status: 500,
			body:      long,
			wantError: "mateo send_message: 500 Internal Server Error: " + long[:1024] + "…",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := &http.Response{StatusCode: tt.status, Header: tt.header}
			if resp.Header == nil {
				resp.Header = http.Header{}
			}
			e := newAPIError(tt.provider, "send_message", resp, []byte(tt.body), now)
			if e.Provider != tt.provider || e.Operation != "send_message" || e.StatusCode != tt.status || string(e.Body) != tt.body {
				t.Errorf("APIError = %s %s %d %q", e.Provider, e.Operation, e.StatusCode, e.Body)
			}
			got := *e
			got.Provider, got.Operation, got.StatusCode, got.Body = "", "", 0, nil
			if got.Code != tt.want.Code || got.Message != tt.want.Message || got.Hint != tt.want.Hint || got.RetryAfter != tt.want.RetryAfter {
				t.Errorf("APIError = %+v\nwant %+v", got, tt.want)
			}
			if e.Error() != tt.wantError {
				t.Errorf("Error() = %q\nwant %q", e.Error(), tt.wantError)
			}
		})
	}
}
