package worker_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/sandbox"
)

const plainMessage = `{"type":"mateo:send_message","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi"}}`

func TestPermanentFailuresAreArchivedAtOnceWithTheProviderError(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 401, 403, 404, 422} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			e := setup(t, nil)
			e.sandbox.Script(sandbox.Answer{Status: status, Body: `{"code":"PGRST","message":"refused by the provider","hint":null,"status":` + strconv.Itoa(status) + `}`})
			id := e.enqueue(t, plainMessage)
			s := e.waitState(t, id, "archived", 3*time.Second)
			for _, want := range []string{strconv.Itoa(status), "refused by the provider"} {
				if !strings.Contains(s.LastError, want) {
					t.Errorf("last error %q does not contain %q", s.LastError, want)
				}
			}
			if s.Retried != 0 {
				t.Errorf("retried %d times, want 0", s.Retried)
			}
			if n := len(e.sandbox.Requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	for name, answer := range map[string]sandbox.Answer{
		"503":                {Status: http.StatusServiceUnavailable, Body: `{"code":"503","message":"down"}`},
		"dropped connection": {Drop: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, nil)
			e.sandbox.Script(answer)
			id := e.enqueue(t, plainMessage)
			retry := e.waitState(t, id, "retry", 3*time.Second)
			if retry.Retried != 1 || retry.LastError == "" {
				t.Errorf("after the failure: retried %d, last error %q; want 1 and the error", retry.Retried, retry.LastError)
			}
			e.waitState(t, id, "completed", 5*time.Second)
			reqs := e.sandbox.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			if string(reqs[0].Body) != string(reqs[1].Body) {
				t.Errorf("the retry sent another body:\n%s\n%s", reqs[0].Body, reqs[1].Body)
			}
		})
	}
}

func TestRateLimitWaitHonoursRetryAfterAndSpendsNoAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.sandbox.Script(sandbox.Answer{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}, Body: `{"code":"429","message":"slow down"}`})
	id := e.enqueue(t, plainMessage)
	// The wait is over in a second, most of it held by the worker: it is
	// read from the completed send, not caught in asynq's retry state.
	done := e.waitState(t, id, "completed", 5*time.Second)
	reqs := e.sandbox.Requests()
	if len(reqs) != 2 || reqs[0].Status != http.StatusTooManyRequests {
		t.Fatalf("%d requests, want 2: the 429, then the send", len(reqs))
	}
	if done.Retried != 0 {
		t.Errorf("completed after the 429 with %d attempts spent, want none", done.Retried)
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < time.Second || gap > 1100*time.Millisecond {
		t.Errorf("second try %s after the 429, want Retry-After's 1s within 100ms", gap)
	}
}

func TestRetryAfterOnAServerErrorIsHonouredAndSpendsAnAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.sandbox.Script(sandbox.Answer{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"3"}}, Body: `{"message":"maintenance"}`})
	id := e.enqueue(t, plainMessage)
	if s := e.waitState(t, id, "retry", 3*time.Second); s.Retried != 1 {
		t.Errorf("a retried 503 spent %d attempts, want 1", s.Retried)
	}
	e.waitState(t, id, "completed", 6*time.Second)
	reqs := e.sandbox.Requests()
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 3*time.Second || gap > 3100*time.Millisecond {
		t.Errorf("second try %s after the 503, want Retry-After's 3s within 100ms", gap)
	}
}

func TestMateoConflictIsADuplicateNotAFailure(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.sandbox.Script(sandbox.Answer{Status: http.StatusConflict, Body: `{"code":"23505","message":"duplicate key value"}`})
	id := e.enqueue(t, plainMessage)
	s := e.waitState(t, id, "completed", 3*time.Second)
	if s.Result == nil || !s.Result.Duplicate || s.Result.Status != http.StatusConflict {
		t.Errorf("result %+v, want a duplicate 409", s.Result)
	}
}

func TestExpiredSendIsNotMade(t *testing.T) {
	t.Parallel()
	for name, first := range map[string]sandbox.Answer{
		"after a failed try": {Status: http.StatusServiceUnavailable, Body: `{}`},
		// The retry comes back before the wait ends, while the send has not
		// expired, and is held until the wait's end, past the expiry: the
		// expiry is checked right before the request.
		"inside a hold": {Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}, Body: `{"message":"slow down"}`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, nil)
			e.sandbox.Script(first)
			expires := time.Now().Add(800 * time.Millisecond).UTC().Format(time.RFC3339Nano)
			id := e.enqueue(t, `{"type":"mateo:send_message","expires_at":"`+expires+`","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}}`)
			e.archivedAfter(t, id, 1, "expired")
		})
	}
}

// TestAccountWithoutTokenIsArchivedPastItsGrace: no worker has the
// account; the send waits NO_ACCOUNT_GRACE for one, spending no attempt,
// then is archived.
func TestAccountWithoutTokenIsArchivedPastItsGrace(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"NO_ACCOUNT_GRACE": "1s", "MAX_RETRY": "0"})
	enqueued := time.Now()
	id := e.enqueue(t, `{"type":"mateo:send_message","account":"nobody","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}}`)
	e.archivedAfter(t, id, 0, `no mateo token for account "nobody"`)
	if d := time.Since(enqueued); d < time.Second {
		t.Errorf("archived %s after it was enqueued, before NO_ACCOUNT_GRACE", d)
	}
}
