package send

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// A gate is one constraint on when a send may go.
type gate interface {
	// earliest returns the earliest time at or after t that the gate
	// allows the send; an error ends the try (a wait or the archive).
	earliest(ctx context.Context, s *try, t time.Time) (time.Time, error)
	// cause names what the gate holds a send back for, in the wait and
	// lateness metrics.
	cause() string
}

// A booking gate books the time it allows for the send, by its task id:
// asking again moves the booking, and free gives it up.
type booking interface {
	gate
	free(ctx context.Context, s *try) error
}

var (
	_ gate    = providerWait{}
	_ gate    = windowGate{}
	_ booking = capGate{}
	_ booking = rateGate{}
)

// providerWait is the end of the wait the provider asked the send for
// (a Retry-After), kept to the microsecond beside asynq's whole seconds.
type providerWait struct{ until time.Time }

func (g providerWait) earliest(_ context.Context, _ *try, t time.Time) (time.Time, error) {
	return later(t, g.until), nil
}

func (providerWait) cause() string { return "provider_hold" }

// windowGate keeps the send inside its window: outside it, the next
// opening.
type windowGate struct{ h *Handler }

func (g windowGate) earliest(ctx context.Context, s *try, t time.Time) (time.Time, error) {
	return g.h.opening(ctx, s, t)
}

func (windowGate) cause() string { return "window" }

// capGate books the send with each of its recipients' caps, at the one
// time every cap covering it allows.
type capGate struct {
	caps       Caps
	recipients []string
}

func (g capGate) earliest(ctx context.Context, s *try, t time.Time) (time.Time, error) {
	at, err := g.caps.Reserve(ctx, s.provider, s.p.Account, s.id, g.recipients, t)
	if err != nil {
		s.log.Warn("could not book the recipients' caps", zap.Error(err))
		return t, redisWait(err)
	}
	return at, nil
}

func (g capGate) free(ctx context.Context, s *try) error {
	return g.caps.Release(ctx, s.provider, s.p.Account, s.id, g.recipients)
}

func (capGate) cause() string { return "recipient_cap" }

// rateGate books the send's slot in its account's rate limit; a wait
// the provider imposed on the account (Limiter.Block) moves it too.
type rateGate struct{ limiter Limiter }

func (g rateGate) earliest(ctx context.Context, s *try, t time.Time) (time.Time, error) {
	slot, _, err := g.limiter.Reserve(ctx, s.provider, s.p.Account, s.id, t)
	if err != nil {
		s.log.Warn("could not book a rate-limit slot", zap.Error(err))
		return t, redisWait(err)
	}
	return slot, nil
}

func (g rateGate) free(ctx context.Context, s *try) error {
	return g.limiter.Release(ctx, s.provider, s.p.Account, s.id)
}

func (rateGate) cause() string { return "rate_limit" }
