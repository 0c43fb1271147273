package tasks_test

import (
	"testing"
	"time"

	"github.com/punctualhq/punctual/tasks"
)

func TestAWaitIsReadBackAsWorded(t *testing.T) {
	t.Parallel()
	until := time.Date(2026, 12, 7, 13, 0, 0, 250e6, time.FixedZone("Lisbon", 0))
	for _, msg := range []string{"outside its window", "", `no mateo account "acme (old)" on this worker (waits for x until y) `} {
		reason, got, ok := tasks.ParseWait(tasks.WaitWords("window", until) + msg)
		if !ok || reason != "window" || !got.Equal(until) {
			t.Errorf("%q: %q %v %v; want window %v", msg, reason, got, ok, until)
		}
	}
}

// TestWordsThatAreNoWaitAreNotReadAsOne: a failure's words, a provider's
// own text at their end included, never pass for a wait.
func TestWordsThatAreNoWaitAreNotReadAsOne(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{
		"mateo 503: unavailable",
		"mateo 503: unavailable" + tasks.WaitWords("window", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)),
		"(waits for nothing)",
		"(waits for window until tomorrow) x",
		"(waits for  until 2026-12-07T13:00:00Z) x",
		"(waits for a reason until 2026-12-07T13:00:00Z) x",
		" (waits for window until 2026-12-07T13:00:00Z) x",
	} {
		if reason, until, ok := tasks.ParseWait(msg); ok {
			t.Errorf("%q read as a wait for %q until %v", msg, reason, until)
		}
	}
}
