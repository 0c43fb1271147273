package tasks_test

import (
	"testing"
	"time"

	"github.com/punctualhq/punctual/tasks"
)

func TestAWaitIsReadBackAsWorded(t *testing.T) {
	t.Parallel()
	until := time.Date(2026, 12, 7, 13, 0, 0, 250e6, time.FixedZone("Lisbon", 0))
	for _, msg := range []string{"outside its window", "", `no mateo account "acme (old)" on this worker`} {
		reason, got, ok := tasks.ParseWait(msg + tasks.WaitWords("window", until))
		if !ok || reason != "window" || !got.Equal(until) {
			t.Errorf("%q: %q %v %v; want window %v", msg, reason, got, ok, until)
		}
	}
}

func TestWordsThatAreNoWaitAreNotReadAsOne(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{
		"mateo 503: unavailable",
		"mateo 400: text (waits for nothing)",
		"x (waits for window until tomorrow)",
		"x (waits for  until 2026-12-07T13:00:00Z)",
		"x (waits for a reason until 2026-12-07T13:00:00Z)",
		"x (waits for window until 2026-12-07T13:00:00Z) and more",
	} {
		if reason, until, ok := tasks.ParseWait(msg); ok {
			t.Errorf("%q read as a wait for %q until %v", msg, reason, until)
		}
	}
}
