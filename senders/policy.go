package senders

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Errors that retrying will not fix.
var (
	// ErrInvalidRequest marks a request that could not be built or encoded.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrNotFound marks a request about something the provider does not have.
	ErrNotFound = errors.New("not found")
)

// ErrOutcomeUnknown marks a request that was written but got no answer:
// the provider may or may not have acted on it.
var ErrOutcomeUnknown = errors.New("outcome unknown")

// Outcome is what a provider's answer means for a send.
type Outcome int

// The outcomes of a send.
const (
	// Success: the provider accepted the request.
	Success Outcome = iota
	// Duplicate: the provider already has this message (Mateo's 409 on a
	// message id); the send is done.
	Duplicate
	// Retry: a transient failure; try again with backoff, spending an attempt.
	Retry
	// Wait: rate limited; try again after the wait without spending an attempt.
	Wait
	// Permanent: the request will not succeed as it is; do not try again.
	Permanent
	// Unknown: the request was written but no answer came; trying again
	// may send twice.
	Unknown
)

func (o Outcome) String() string {
	names := [...]string{"success", "duplicate", "retry", "wait", "permanent", "unknown"}
	if o < 0 || int(o) >= len(names) {
		return "outcome(" + strconv.Itoa(int(o)) + ")"
	}
	return names[o]
}

// Policy classifies every answer of every provider, in one place.
type Policy struct {
	// RetryStatuses are the HTTP statuses retried with backoff. Every other
	// 4xx is permanent; 429 is always a rate-limit wait.
	RetryStatuses []int
	// RetryServerErrors retries every 5xx, listed or not.
	RetryServerErrors bool
	// DefaultWait is the wait after a 429 whose answer names none.
	DefaultWait time.Duration
	// MaxWait is the longest wait a provider may impose; an answer asking
	// for longer is treated as a failure retried with backoff. 0: no cap.
	MaxWait time.Duration
}

// DefaultPolicy is the retry policy of the project's contract: 408, 425 and
// every 5xx retried, 429 waited out for at most an hour, any other 4xx
// permanent (unless the operation calls it a duplicate).
func DefaultPolicy() Policy {
	return Policy{
		RetryStatuses:     []int{http.StatusRequestTimeout, http.StatusTooEarly, 500, 502, 503, 504},
		RetryServerErrors: true,
		DefaultWait:       time.Second,
		MaxWait:           time.Hour,
	}
}

// Classify says what err, returned by a provider client, means, and how
// long to wait at least before the next try (0: as the backoff says). An
// error answer that duplicate recognises is a Duplicate: the operation's
// own rule (Mateo's 409 on a message id); nil recognises none.
func (p Policy) Classify(err error, duplicate func(*APIError) bool) (Outcome, time.Duration) {
	if err == nil {
		return Success, 0
	}
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr) && duplicate != nil && apiErr.StatusCode >= 300 && duplicate(apiErr):
		return Duplicate, 0
	case errors.As(err, &apiErr):
		return p.classifyStatus(apiErr)
	case errors.Is(err, ErrInvalidRequest), errors.Is(err, ErrNotFound):
		return Permanent, 0
	case errors.Is(err, ErrOutcomeUnknown):
		return Unknown, 0
	default: // errors before the request was written: it did not reach the provider
		return Retry, 0
	}
}

func (p Policy) classifyStatus(e *APIError) (Outcome, time.Duration) {
	switch {
	case e.StatusCode < 300:
		return Success, 0
	case e.StatusCode == http.StatusTooManyRequests:
		switch {
		case p.tooLong(e.RetryAfter): // a broken answer, not a wait to honour
			return Retry, 0
		case e.RetryAfter > 0:
			return Wait, e.RetryAfter
		}
		return Wait, p.DefaultWait
	case slices.Contains(p.RetryStatuses, e.StatusCode), p.RetryServerErrors && e.StatusCode >= 500:
		if p.tooLong(e.RetryAfter) {
			return Retry, 0
		}
		return Retry, e.RetryAfter
	default:
		return Permanent, 0
	}
}

// tooLong reports whether a provider's wait exceeds MaxWait.
func (p Policy) tooLong(wait time.Duration) bool { return p.MaxWait > 0 && wait > p.MaxWait }
