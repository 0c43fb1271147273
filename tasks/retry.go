package tasks

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"punctual/senders"
)

// WaitError asks for the task to be tried again after Wait without spending
// an attempt: a rate limit, or a task handed out before its due time.
type WaitError struct {
	Wait time.Duration
	Err  error
}

func (e *WaitError) Error() string { return "waiting " + e.Wait.String() + ": " + e.Err.Error() }

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
// asynq schedules a retry in whole Unix seconds, rounded down, so the delay
// is stretched to end on a second boundary: a retry never starts early.
func (b Backoff) RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	now := time.Now()
	at := now.Add(b.delay(n, err))
	if at.Truncate(time.Second).Before(at) {
		at = at.Truncate(time.Second).Add(time.Second)
	}
	return at.Sub(now)
}

func (b Backoff) delay(n int, err error) time.Duration {
	var wait *WaitError
	if errors.As(err, &wait) {
		return wait.Wait
	}
	d := b.Max
	if n < 32 && b.Base<<n > 0 && b.Base<<n < b.Max {
		d = b.Base << n
	}
	d = d/2 + rand.N(d/2+1) // jitter: between half and all of it
	var apiErr *senders.APIError
	if errors.As(err, &apiErr) {
		d = max(d, apiErr.RetryAfter)
	}
	return d
}

// IsFailure is an asynq IsFailure function: a WaitError spends no attempt.
func IsFailure(err error) bool {
	var wait *WaitError
	return !errors.As(err, &wait)
}
