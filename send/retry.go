package send

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
	"github.com/punctualhq/punctual/tasks"
)

// WaitError asks for the task to be tried again once Wait has passed: a
// rate limit, a provider's Retry-After, or a task handed out early.
type WaitError struct {
	// Wait is the least time until the next try.
	Wait time.Duration
	// Failure counts the try as a failed attempt; a rate-limit wait does not.
	Failure bool
	// Held says the worker keeps the wait's exact end (Holds) and holds the
	// task until then, so asynq may bring it back a little early.
	Held bool
	// Reason is what a send that waits rather than failed waits for (a
	// reason of punctual_waits_total), and Until when it may go (zero: in
	// Wait). With a reason, the error's words start with the wait, as
	// tasks.WaitWords puts them, for status to show.
	Reason string
	Until  time.Time
	Err    error
}

func (e *WaitError) Error() string {
	if e.Reason == "" || e.Failure {
		return e.Err.Error()
	}
	until := e.Until
	if until.IsZero() {
		until = time.Now().Add(e.Wait)
	}
	return tasks.WaitWords(e.Reason, until) + e.Err.Error()
}

func (e *WaitError) Unwrap() error { return e.Err }

// permanentError archives the task with err's message.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }

func (e permanentError) Unwrap() []error { return []error{e.err, asynq.SkipRetry} }

// Backoff is the retry delay: capped exponential with jitter, and never
// shorter than the wait a provider asked for.
type Backoff struct {
	// Base is the delay before the first retry.
	Base time.Duration
	// Max caps the delay.
	Max time.Duration
}

// RetryDelay is an asynq.RetryDelayFunc: n is the number of retries so far.
// A wait the worker holds to its exact end comes back lead early; any other
// delay is stretched to end on a second boundary, since asynq keeps retry
// times in whole seconds, rounded down. Either way no try starts early.
func (b Backoff) RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	d, held := b.backoff(n), false
	var wait *WaitError
	if errors.As(err, &wait) && (!wait.Failure || wait.Wait > d) {
		d, held = wait.Wait, wait.Held
	}
	if held {
		return max(d-tasks.Lead, 0)
	}
	now := time.Now()
	at := now.Add(d)
	if at.Truncate(time.Second).Before(at) {
		at = at.Truncate(time.Second).Add(time.Second)
	}
	return at.Sub(now)
}

// backoff is the delay after the nth failure: capped, exponential, jittered.
func (b Backoff) backoff(n int) time.Duration {
	d := b.Max
	if n < 32 && b.Base<<n > 0 && b.Base<<n < b.Max {
		d = b.Base << n
	}
	return d/2 + rand.N(d/2+1) // jitter: between half and all of it
}

// IsFailure is an asynq IsFailure function: a wait that is no failure
// spends no attempt.
func IsFailure(err error) bool {
	var wait *WaitError
	return !errors.As(err, &wait) || wait.Failure
}
