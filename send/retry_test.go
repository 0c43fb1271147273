package send

import (
	"errors"
	"testing"
	"time"

	"github.com/punctualhq/punctual/tasks"
)

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	b := Backoff{Base: 2 * time.Second, Max: time.Minute}
	boom := errors.New("boom")
	cases := []struct {
		name     string
		n        int
		err      error
		min, max time.Duration
		held     bool // exact, lead early; otherwise it ends on a second boundary
	}{
		{"first retry", 0, boom, time.Second, 3 * time.Second, false},
		{"grows", 3, boom, 8 * time.Second, 17 * time.Second, false},
		{"capped", 30, boom, 30 * time.Second, 61 * time.Second, false},
		{"provider asked for longer, held", 0, &WaitError{Wait: 10 * time.Second, Failure: true, Held: true, Err: boom},
			10*time.Second - tasks.Lead, 10*time.Second - tasks.Lead, true},
		{"backoff longer than the provider asked", 4, &WaitError{Wait: time.Second, Failure: true, Held: true, Err: boom},
			16 * time.Second, 33 * time.Second, false},
		{"rate-limit wait, held", 9, &WaitError{Wait: 1500 * time.Millisecond, Held: true, Err: boom},
			time.Second, time.Second, true},
		{"rate-limit wait, not held", 9, &WaitError{Wait: 1500 * time.Millisecond, Err: boom},
			1500 * time.Millisecond, 2500 * time.Millisecond, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for range 50 {
				before := time.Now()
				d := b.RetryDelay(c.n, c.err, nil)
				after := time.Now()
				if d < c.min || d > c.max {
					t.Fatalf("delay %s, want %s to %s", d, c.min, c.max)
				}
				// asynq keeps whole seconds: a delay not held must end on
				// one, from the instant RetryDelay read the clock, which is
				// between before and after.
				if lo, hi := before.Add(d), after.Add(d); !c.held && hi.Add(time.Millisecond).Truncate(time.Second).Before(lo.Add(-time.Millisecond)) {
					t.Fatalf("retry between %s and %s, with no second boundary", lo.Format(time.RFC3339Nano), hi.Format(time.RFC3339Nano))
				}
			}
		})
	}
}

func TestIsFailure(t *testing.T) {
	t.Parallel()
	if IsFailure(&WaitError{Wait: time.Second, Err: errors.New("429")}) {
		t.Error("a rate-limit wait counts as a failure")
	}
	if !IsFailure(&WaitError{Wait: time.Second, Failure: true, Err: errors.New("503")}) {
		t.Error("a retried answer that named a wait does not count as a failure")
	}
	if !IsFailure(errors.New("503")) {
		t.Error("an error does not count as a failure")
	}
}
