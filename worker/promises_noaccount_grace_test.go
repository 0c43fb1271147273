package worker_test

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// No account is a wait, not an end: a worker that lacks a
// send's account puts it back without spending an attempt for
// NO_ACCOUNT_GRACE, counting it in punctual_waits_total{reason="no_account"};
// past the grace the send is archived with the reason. No
// request is ever made.
func TestNoAccountGraceThenArchived(t *testing.T) {
	t.Parallel()
	const grace = 2 * time.Second
	e := setupWith(t, newSandbox(), map[string]string{"LEADCONNECTOR_TOKEN": "", "NO_ACCOUNT_GRACE": grace.String()})
	enqueued := time.Now()
	id := e.enqueue(t, `{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c-graced","message":"Hi"}}`)

	// Waiting through the grace: never archived before it ends, and no
	// attempt spent.
	waited := false
	deadline := enqueued.Add(grace + 8*time.Second)
	for {
		s, err := e.producer.Status(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Retried != 0 {
			t.Fatalf("%s after the enqueue: %d attempts spent (%q), want none", time.Since(enqueued).Round(time.Millisecond), s.Retried, s.LastError)
		}
		if s.State == "retry" {
			waited = true
		}
		if s.State == "archived" {
			if at := time.Since(enqueued); at < grace {
				t.Errorf("archived %s after the enqueue, before NO_ACCOUNT_GRACE (%s) ended", at.Round(time.Millisecond), grace)
			}
			if !strings.Contains(s.LastError, `no leadconnector token for account "default"`) {
				t.Errorf("archived with %q, want the reason: no leadconnector token for account \"default\"", s.LastError)
			}
			break
		}
		if s.State == "completed" {
			t.Fatalf("completed (%s), want archived after the grace", resultOf(s))
		}
		if time.Now().After(deadline) {
			t.Fatalf("not archived %s after the enqueue, NO_ACCOUNT_GRACE being %s: %+v", time.Since(enqueued).Round(time.Millisecond), grace, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !waited {
		t.Error("never seen waiting for its account before the archive")
	}
	if n := len(e.sandbox.Requests()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
	_, metrics := get(t, "http://"+e.worker.HealthAddr()+"/metrics", "", "")
	if !regexp.MustCompile(`(?m)^punctual_waits_total\{[^}]*provider="leadconnector"[^}]*reason="no_account"[^}]*\} [1-9]`).MatchString(metrics) {
		t.Error(`/metrics counts no wait of reason="no_account" for leadconnector`)
	}
}
