package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
)

// invalidJWT is LeadConnector's answer to a token it does not take.
var invalidJWT = sandbox.Answer{Status: http.StatusUnauthorized, Body: `{"statusCode":401,"message":"Invalid JWT"}`}

// A resend after a 401 passes the same checks as the first request. Here
// the send's group is cancelled while the token is being renewed: the resend must not be
// made, and the send ends cancelled.
func TestNoResendAfterAGroupCancelDuringTheRenewal(t *testing.T) {
	t.Parallel()
	e, gate := oauthStore(t, time.Hour, nil)
	const group = "contact:renewal"
	renewing, cancelling := make(chan struct{}), make(chan struct{})
	// The first token comes at once; the renewal after the 401 is held
	// until the test has begun cancelling the group, and 300 ms more for
	// the cancel's first step to land.
	gate.setHold(func(n int, r *http.Request) {
		if n != 2 {
			return
		}
		close(renewing)
		select {
		case <-cancelling:
			slowFor(r, 300*time.Millisecond)
		case <-r.Context().Done():
		}
	})
	e.sandbox.Script(invalidJWT) // the first request's token is refused
	id := e.enqueue(t, `{"type":"leadconnector:send_message","account":"store","group":"`+group+`","payload":{"type":"SMS","contactId":"c-grouped","message":"Hi"}}`)

	waitChan(t, renewing, 10*time.Second, "the worker renewing its token after the 401")
	cancelled := make(chan struct{})
	var res producer.GroupCancel
	var cerr error
	go func() {
		defer close(cancelled)
		close(cancelling)
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		res, cerr = e.producer.CancelGroup(ctx, group)
	}()
	s := e.waitEnded(t, id, 10*time.Second)
	waitChan(t, cancelled, 10*time.Second, "the group's cancel returning")

	// What the provider received: the refused request, and nothing once
	// the group's cancel had begun.
	msgs := lcMessages(e.sandbox)
	if len(msgs) == 0 || msgs[0].Status != http.StatusUnauthorized {
		t.Fatalf("setup: messages %v, want the first one refused with 401", statuses(msgs))
	}
	for _, r := range msgs[1:] {
		t.Errorf("a message reached the provider at %s (status %d), after its group's cancel began: the resend after the renewal skipped the group check",
			r.At.Format("15:04:05.000"), r.Status)
	}
	if s.State != "cancelled" {
		t.Errorf("the send ended %s (last error %q, %s), want cancelled with its group", s.State, s.LastError, resultOf(s))
	}
	if cerr != nil || res != (producer.GroupCancel{Cancelled: 1}) {
		t.Errorf("cancel --group: %+v, %v; want the send cancelled", res, cerr)
	}
}

// The same resend outside the send's window: the window closes
// while the token is being renewed after a 401 (a token endpoint that
// takes 2 s). No request may reach the provider once the window has
// closed; the send waits for the next opening, no attempt spent.
//
// Windows are whole minutes: the test waits for the next minute's start
// that is at least 3 s away, so it takes 4 to 64 s.
func TestNoResendOutsideTheWindowAfterTheRenewal(t *testing.T) {
	t.Parallel()
	e, gate := oauthStore(t, time.Hour, nil)
	gate.setHold(func(n int, r *http.Request) {
		if n == 2 { // the renewal after the 401; the first token comes at once
			slowFor(r, 2*time.Second)
		}
	})
	closes := time.Now().Add(3 * time.Second).Truncate(time.Minute).Add(time.Minute)
	opens := closes.Add(-30 * time.Minute)
	nextOpening := opens.Add(24 * time.Hour)
	due := closes.Add(-time.Second)
	window := fmt.Sprintf(`{"tz":"UTC","from":%q,"to":%q}`, opens.UTC().Format("15:04"), closes.UTC().Format("15:04"))
	e.sandbox.Script(invalidJWT) // the first request's token is refused
	id := e.enqueue(t, `{"type":"leadconnector:send_message","account":"store","window":`+window+`,"process_at":"`+due.UTC().Format(time.RFC3339Nano)+
		`","payload":{"type":"SMS","contactId":"c-windowed","message":"Hi"}}`)

	// The renewal answered, the worker is done with the try: the send
	// waits (retry) or ended.
	deadline := closes.Add(10 * time.Second)
	var s *producer.Status
	for {
		var err error
		s, err = e.producer.Status(context.Background(), id)
		if err == nil && tokenRequests(e.sandbox) >= 2 && s.State != "active" && s.State != "pending" && s.State != "scheduled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the try did not end by %s: %+v (err %v), %d token requests", deadline.Format("15:04:05.000"), s, err, tokenRequests(e.sandbox))
		}
		time.Sleep(20 * time.Millisecond)
	}

	msgs := lcMessages(e.sandbox)
	if len(msgs) == 0 || msgs[0].Status != http.StatusUnauthorized || !msgs[0].At.Before(closes) {
		t.Fatalf("setup: messages %v, want the first one inside the window, refused with 401", statuses(msgs))
	}
	for _, r := range msgs[1:] {
		if !r.At.Before(closes) {
			t.Errorf("a message reached the provider at %s (status %d), %s after its window closed at %s",
				r.At.Format("15:04:05.000"), r.Status, r.At.Sub(closes).Round(time.Millisecond), closes.Format("15:04:05"))
		}
	}
	if s.State != "retry" || s.Retried != 0 {
		t.Errorf("the send is %s, %d attempts spent (last error %q, %s); want it waiting for the next opening, no attempt spent",
			s.State, s.Retried, s.LastError, resultOf(s))
	} else if s.NextProcessAt.Before(nextOpening.Add(-2 * time.Second)) {
		t.Errorf("the send is next taken at %s, before the window's next opening %s", s.NextProcessAt, nextOpening)
	}
}
