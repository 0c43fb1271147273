package worker_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Expiry holds behind a token wait: the worker waits for an OAuth token
// (here a renewal from a token endpoint that takes 2 s) after the gates
// let the send go. No request may reach the provider at or
// after expires_at; the send ends archived as expired.
func TestNoRequestAfterExpiresAtBehindATokenRenewal(t *testing.T) {
	t.Parallel()
	// Access tokens of 1 s: the worker renews one 0.8 s after it was issued.
	e, gate := oauthStore(t, time.Second, nil)

	// The first send gets the worker its token, from a quick endpoint.
	first := e.lcSends(t, 1, 0)
	e.completedFirstTry(t, first, 10*time.Second)
	took := lcMessages(e.sandbox)
	if len(took) != 1 || took[0].Status != 200 {
		t.Fatalf("first send: messages %v, want one 200", statuses(took))
	}

	// From now on the token endpoint takes 2 s. The second send falls due
	// once the worker's token is past its renewal time (issued before the
	// first message, so 1.2 s after that message is late enough), and
	// expires 1 s after its due time: the renewal outlasts it.
	gate.setHold(func(_ int, r *http.Request) { slowFor(r, 2*time.Second) })
	due := took[0].At.Add(1200 * time.Millisecond)
	if soon := time.Now().Add(300 * time.Millisecond); due.Before(soon) {
		due = soon
	}
	expires := due.Add(time.Second)
	id := e.enqueue(t, fmt.Sprintf(`{"type":"leadconnector:send_message","account":"store","process_at":%q,"expires_at":%q,"payload":{"type":"SMS","contactId":"c-expiring","message":"Hi"}}`,
		due.UTC().Format(time.RFC3339Nano), expires.UTC().Format(time.RFC3339Nano)))

	s := e.waitEnded(t, id, 10*time.Second)

	// What the provider received: the first send's message, nothing else;
	// above all nothing at or after expires_at.
	msgs := lcMessages(e.sandbox)
	for _, r := range msgs[1:] {
		if !r.At.Before(expires) {
			t.Errorf("a message reached the provider at %s, %s after the send's expires_at %s (status %d)",
				r.At.Format("15:04:05.000"), r.At.Sub(expires).Round(time.Millisecond), expires.Format("15:04:05.000"), r.Status)
		} else {
			t.Errorf("a message reached the provider at %s, before expires_at but after the token went stale: want none", r.At.Format("15:04:05.000"))
		}
	}
	if len(msgs) != 1 {
		t.Errorf("the provider received %d messages (statuses %v), want only the first send's", len(msgs), statuses(msgs))
	}
	if s.State != "archived" || !strings.Contains(s.LastError, "expired") {
		t.Errorf("the expiring send ended %s (last error %q, %s), want archived as expired", s.State, s.LastError, resultOf(s))
	}
	if n := tokenRequests(e.sandbox); n < 2 {
		t.Errorf("setup: %d token requests, want the first and the slow renewal", n)
	}
}
