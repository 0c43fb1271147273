package send

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/internal/pause"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/window"
)

// The life of a send, in the order it lives it:
//
//  1. start: the task is read, with what punctual keeps of it beside
//     asynq (state.Marks); a send of the id already made, or a try an
//     earlier one left mid-request, ends there.
//     An expired send ends there too.
//  2. ready: the gates (gates.go) are asked, in turn and again, until
//     none moves the time: the earliest time the due time, the provider's
//     wait, the window, the recipients' caps and the account's limit all
//     allow. The send is held until then (put back to wait when that is
//     far), then takes a send slot; a send late for its bookings asks
//     the gates again.
//  3. send: the account's token (a renewal that takes long sends it
//     back to ready), then, right before every request (the first and a resend after a
//     401), the final check: not cancelled, its group not cancelled,
//     inside the window, not expired.
//  4. the answer's outcome (outcomes.go): done, retry, wait, unknown or
//     archive.
//
// Whatever way a try ends without a request, exit frees what it booked,
// but for the bookings it goes back to wait for.

// Scheduling: a task is handed to asynq tasks.Lead before its exact time
// and the handler holds it, outside the send slots, until that time; one
// handed out more than maxHold early goes back to the schedule without
// spending an attempt.
const maxHold = 2 * time.Second

// A send waits at most capacityWait (and half the time its try has left)
// for a send slot, then goes back to its queue for capacityRetry without
// spending an attempt: a task is never timed out by asynq for want of
// capacity. One that is ready to go more than rebookAfter after the time
// its gates gave asks them again: the calendar decides whether it may
// keep a booking it is late for (it may, by a few percent of the rate's
// period). A token that took longer than slowToken (a renewal) sends the
// send back to ask its gates again. The cancel mark is read only for a try that took straight or
// longer from its taking to its request: a cancel that comes in those
// 2 ms loses the race, and its producer is told the send had started.
const (
	capacityWait  = 5 * time.Second
	capacityRetry = 100 * time.Millisecond
	rebookAfter   = time.Millisecond
	straight      = 2 * time.Millisecond
	slowToken     = 5 * time.Millisecond
)

// try is one try of a task, as it goes through the pipeline.
type try struct {
	task     *asynq.Task
	id, op   string // the task id, and the action of its type: send_message
	provider string
	o        *providers.Operation
	p        tasks.Payload
	marks    state.Marks
	log      *zap.Logger
	// taken is when the worker took the task.
	taken time.Time
	// retried counts the failed tries so far; maxRetry those allowed.
	retried, maxRetry int
	// win is the send's window, when windowed; windowAt the opening it
	// gave the send in this try, zero when none.
	win      window.Window
	windowed bool
	windowAt time.Time
	// gates are the send's gates, and booked the time each booking gate
	// last booked for it (zero: none).
	gates  []gate
	booked []time.Time
	// back is the time the try went back to wait for: its bookings at
	// that time stand.
	back time.Time
	// requested is set once a request was written: its bookings are used.
	requested bool
	// reason is what the send waits for (the wait metric's reason), and
	// cause what made it go after its due time (the lateness metric's):
	// on_time until something holds it back.
	reason, cause string
}

// fingerprint names the task in its marks.
func (s *try) fingerprint() string { return state.Fingerprint(s.task.Payload()) }

// later records what holds the send back, unless something else already did.
func (s *try) later(cause string) {
	if s.cause == "on_time" {
		s.cause = cause
	}
}

// ProcessTask sends one task: not before every gate allows it, not after
// it expires, never once it is cancelled, and with the outcome the policy
// gives its answer.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	s, err := h.start(ctx, t)
	if err != nil {
		return err
	}
	defer h.exit(ctx, s)
	if s.marks.Done != nil && (s.marks.For == "" || s.marks.For == s.fingerprint()) {
		return h.made(ctx, s)
	}
	if s.marks.Sending && s.marks.For == s.fingerprint() && h.AtMostOnce[s.provider] {
		return h.unknown(ctx, s, errors.New("a worker stopped mid-request"))
	}
	if err := h.gatesOf(s); err != nil {
		return err
	}
	if err := h.expired(s, time.Now()); err != nil {
		return err
	}
	for {
		release, err := h.ready(ctx, s)
		if err != nil {
			return err
		}
		asked := time.Now()
		token, err := h.token(ctx, s)
		if err != nil {
			release()
			return err
		}
		if time.Since(asked) <= slowToken {
			defer release()
			return h.send(ctx, s, token)
		}
		// A renewal kept it past the time its gates gave: it gives its
		// slot back and asks them again, rather than crowd the sends
		// booked after it.
		release()
	}
}

// start reads the task and what is kept of it beside asynq.
func (h *Handler) start(ctx context.Context, t *asynq.Task) (*try, error) {
	id, _ := asynq.GetTaskID(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	asynqMax, _ := asynq.GetMaxRetry(ctx)
	log := h.Logger.WithLazy(zap.String("task_id", id), zap.String("type", t.Type()), zap.Int("attempt", retried+1))
	provider, op, _ := strings.Cut(t.Type(), ":")
	s := &try{task: t, id: id, op: op, provider: provider, o: h.Providers.Lookup(t.Type()), log: log, taken: time.Now(),
		retried: retried, maxRetry: tasks.MaxRetry(asynqMax), reason: "not_due", cause: "on_time"}
	var err error
	if s.p, err = tasks.DecodePayload(t.Payload()); s.o == nil || err != nil {
		log.Error("malformed task", zap.Error(err))
		return nil, permanentError{fmt.Errorf("malformed %s task: %v", t.Type(), err)}
	}
	s.log = log.WithLazy(zap.String("account", s.p.Account))
	if s.marks, err = h.Marks.Load(ctx, id); err != nil {
		s.log.Warn("could not read the task's marks", zap.Error(err))
		return nil, redisWait(err)
	}
	if retried > 0 {
		s.cause = "retry"
	}
	s.log.Debug("taken")
	return s, nil
}

// gatesOf gives the send its window and its gates, in the order they are
// asked: the cheap ones first, the booking ones last, so that a send is
// booked only for a time the others allow.
func (h *Handler) gatesOf(s *try) error {
	var err error
	if s.win, s.windowed, err = h.Windows.Of(s.o, s.p); err != nil {
		s.log.Error("the send's window cannot be kept", zap.Error(err))
		h.Metrics.Sent(s.provider, s.op, s.p.Account, "failed")
		return permanentError{err}
	}
	if s.marks.Until.After(s.p.Due) {
		s.gates = append(s.gates, providerWait{s.marks.Until})
	}
	if s.windowed {
		s.gates = append(s.gates, windowGate{h})
		if !s.p.Due.IsZero() && !s.win.Contains(s.p.Due) {
			// Due outside its window: the window made it late, whether this
			// try or an earlier one waited for the opening.
			s.later("window")
		}
	}
	if r := h.recipients(s); r != nil {
		s.gates = append(s.gates, capGate{h.Caps, r})
	}
	if h.Limiter != nil {
		s.gates = append(s.gates, rateGate{h.Limiter})
	}
	s.booked = make([]time.Time, len(s.gates))
	return nil
}

// recipients returns the addresses of the send that caps count; nil when
// no cap can apply.
func (h *Handler) recipients(s *try) []string {
	if h.Caps == nil || s.o.Recipients == nil {
		return nil
	}
	if r := s.o.Recipients(s.p.Body); len(r) > 0 {
		return r
	}
	return nil
}

// ready returns once every gate allows the send now and it holds a send
// slot, with the function that frees the slot. Time spent on the way (a
// hold, a wait for a slot, a busy CPU) makes it ask the gates again for
// the time they gave: a booking that still stands is kept, one it is too
// late for moves, and a provider's wait set meanwhile is seen.
func (h *Handler) ready(ctx context.Context, s *try) (release func(), err error) {
	at := later(s.p.Due, time.Now())
	for {
		if at, err = h.settle(ctx, s, at); err != nil {
			return nil, err
		}
		held, err := h.holdUntil(ctx, s, at)
		if err != nil {
			return nil, err
		}
		release, waited, err := h.slot(ctx, s)
		if err != nil {
			return nil, err
		}
		if !held && !waited && !s.late() {
			return release, nil
		}
		again, err := h.recheck(ctx, s, at)
		if err == nil && !moves(again, at) {
			return release, nil
		}
		release()
		if err != nil {
			return nil, err
		}
		at = again
	}
}

// late reports whether a booking of the send's has passed by more than
// rebookAfter: the calendar may have given its time to another send.
func (s *try) late() bool {
	for _, at := range s.booked {
		if !at.IsZero() && time.Since(at) > rebookAfter {
			return true
		}
	}
	return false
}

// settle asks the gates, in turn and again, for the earliest time at or
// after at that they all allow, until none moves it. A gate that last
// allowed the time asked is not asked again. A booking gate is asked
// when that time has come (so that an account's sends are booked in the
// order they fall due), or not at all when the time is further off than a
// try holds a send: it is booked when it comes back. A send held for its
// window's opening is booked at once, for the opening, however far off:
// the sends of a window all fall due then, and booked in the order they
// reach it they go back to wait for their own slots. Left to book at the
// opening, they would all come back then and book one script call at a
// time, the first send of each account late by the time the others took.
func (h *Handler) settle(ctx context.Context, s *try, at time.Time) (time.Time, error) {
	return h.ask(ctx, s, at, true)
}

// recheck asks the gates again, for a send holding a send slot, whether
// they still allow at: as settle, but a booking gate that would have the
// send wait for a later time is not waited for (a send slot is never held
// through a wait); that time is returned, for ready to hold the send
// until it without its slot.
func (h *Handler) recheck(ctx context.Context, s *try, at time.Time) (time.Time, error) {
	return h.ask(ctx, s, at, false)
}

// ask is settle, and recheck when wait is false.
func (h *Handler) ask(ctx context.Context, s *try, at time.Time, wait bool) (time.Time, error) {
	allowed := make([]time.Time, len(s.gates))
	for moved := true; moved; {
		moved = false
		for i, g := range s.gates {
			if allowed[i].Equal(at) {
				continue
			}
			_, books := g.(booking)
			if books && !(wait && heldForOpening(s, at)) {
				if far(ctx, at) || !wait && time.Until(at) > 0 {
					return at, nil
				}
				if err := pause.For(ctx, time.Until(at)); err != nil {
					return at, err
				}
			}
			t, err := g.earliest(ctx, s, at)
			if books {
				s.booked[i] = t
				if err != nil {
					s.booked[i] = at // perhaps booked in part: exit frees it
				}
			}
			if err != nil {
				return at, err
			}
			allowed[i] = t
			if moves(t, at) {
				at, moved = t, true
				s.reason = g.cause()
				s.later(s.reason)
				if err := h.expired(s, at); err != nil {
					return at, err
				}
			}
		}
	}
	return at, nil
}

// heldForOpening reports whether at is the opening the send's window gave it in
// this try, still to come.
func heldForOpening(s *try, at time.Time) bool {
	return !s.windowAt.IsZero() && at.Equal(s.windowAt) && time.Until(at) > 0
}

// far reports whether a try cannot hold its send until at: more than
// maxHold away, or further than half the time its try has left, which
// asynq would otherwise end, spending an attempt.
func far(ctx context.Context, at time.Time) bool {
	early := time.Until(at)
	if early > maxHold {
		return true
	}
	deadline, ok := ctx.Deadline()
	return early > 0 && ok && time.Until(deadline) < 2*early
}

// holdUntil holds the send until at, and reports whether it did; a time
// too far off puts it back to wait, without spending an attempt, its
// bookings at that time kept for it.
func (h *Handler) holdUntil(ctx context.Context, s *try, at time.Time) (held bool, err error) {
	if far(ctx, at) {
		if err := h.expired(s, at); err != nil {
			return false, err
		}
		s.back = at
		h.Metrics.Waited(s.provider, s.p.Account, s.reason)
		return false, &WaitError{Wait: time.Until(at), Held: true, Reason: s.reason, Until: at, Err: errors.New("put back until its time")}
	}
	early := time.Until(at)
	return early > 0, pause.For(ctx, early)
}

// slot takes a send slot, and reports whether it had to wait for one.
func (h *Handler) slot(ctx context.Context, s *try) (release func(), waited bool, err error) {
	if h.slots == nil {
		return func() {}, false, nil
	}
	release = func() { <-h.slots }
	select {
	case h.slots <- struct{}{}:
		return release, false, nil
	default:
	}
	wait := capacityWait
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(deadline)/2) // leave the request its time
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		s.later("capacity")
		return release, true, nil
	case <-timer.C:
		h.Metrics.Waited(s.provider, s.p.Account, "capacity")
		return nil, false, &WaitError{Wait: capacityRetry, Reason: "capacity", Err: errors.New("no send slot free: the worker is at WORKER_CONCURRENCY")}
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// moves reports whether a gate's answer t moves a send that was to go at
// at. The calendars book on Redis's clock, to the millisecond: a time
// within a millisecond of now is now, not a wait.
func moves(t, at time.Time) bool {
	return t.After(at) && time.Until(t) > time.Millisecond
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// send makes the request with token, each time right after the final
// check: the first time, and once more with a renewed token when the
// provider refused the token with a 401.
func (h *Handler) send(ctx context.Context, s *try, token string) error {
	var err error
	for resend := false; ; resend = true {
		if err := h.final(ctx, s); err != nil {
			return err
		}
		r := h.request(ctx, s, token)
		switch {
		case !unauthorized(r.err):
			return h.answer(ctx, s, r)
		case resend:
			return h.rejected(ctx, s, token, r)
		case !h.Tokens.Refused(ctx, s.provider, s.p.Account, token):
			return h.answer(ctx, s, r) // a token that cannot be renewed: the 401 is the send's
		}
		// The credential is renewable, so the 401 is the token's: renewed,
		// the send is made again at once, spending no attempt.
		h.undelivered(ctx, s)
		s.log.Info("token refused: renewing it and sending again")
		if token, err = h.token(ctx, s); err != nil {
			return err
		}
	}
}

// final is the check right before every request: the worker is not
// stopping, and the send is not cancelled, of a group not cancelled since
// it joined, inside its window and not expired. The Redis round trips come first and the clock last,
// so that no slow answer takes the request past the window or the expiry.
// An at-most-once send is marked in flight before the clock is read, and
// the mark cleared again when it will not go.
func (h *Handler) final(ctx context.Context, s *try) error {
	select {
	case <-h.Stopping:
		return &WaitError{Wait: time.Second, Reason: "stopping", Err: errors.New("the worker is stopping: put back before its request, for the next worker to send")}
	default:
	}
	if time.Since(s.taken) >= straight {
		cancelled, err := h.Marks.TakeCancel(ctx, s.id)
		if err != nil {
			return redisWait(fmt.Errorf("could not check for a cancellation: %w", err))
		}
		if cancelled {
			return h.drop(ctx, s, "cancelled")
		}
	}
	if err := h.grouped(ctx, s); err != nil {
		return err
	}
	if h.AtMostOnce[s.provider] {
		if err := h.Marks.Sending(ctx, s.id, s.fingerprint()); err != nil {
			s.log.Warn("could not mark the send in flight", zap.Error(err))
			return redisWait(err)
		}
	}
	if err := h.inTime(ctx, s); err != nil {
		h.undelivered(ctx, s)
		return err
	}
	return nil
}

// inTime ends a try whose send may not go now: expired, or outside its
// window, when a slow token, a renewal or a long hold took it past the
// window's close: it then waits for the next opening.
func (h *Handler) inTime(ctx context.Context, s *try) error {
	now := time.Now()
	if err := h.expired(s, now); err != nil {
		return err
	}
	if !s.windowed || s.win.Contains(now) {
		return nil
	}
	open, err := h.opening(ctx, s, now)
	if err != nil {
		return err
	}
	h.Metrics.Waited(s.provider, s.p.Account, "window")
	return &WaitError{Wait: time.Until(open), Held: true, Reason: "window", Until: open, Err: errors.New("outside its window")}
}

// grouped stops a send whose group was cancelled since it joined it.
func (h *Handler) grouped(ctx context.Context, s *try) error {
	if s.p.Group == "" || h.Groups == nil {
		return nil
	}
	queue, _ := asynq.GetQueueName(ctx)
	c := state.Cancellation{ID: s.id, Type: s.task.Type(), Queue: queue, Account: s.p.Account, Group: s.p.Group, At: time.Now()}
	cancelled, err := h.Groups.Cancelled(ctx, c, s.p.GroupGen)
	if err != nil {
		s.log.Warn("could not check the send's group", zap.Error(err))
		return redisWait(err)
	}
	if !cancelled {
		return nil
	}
	return h.drop(ctx, s, "cancelled with its group "+s.p.Group)
}

// opening returns the earliest time at or after from inside the send's
// window, and records it when it is later. A send whose window opens only
// once it has expired, or never, is archived.
func (h *Handler) opening(ctx context.Context, s *try, from time.Time) (time.Time, error) {
	open, ok := s.win.Next(from)
	if !ok {
		s.log.Error("the send's window never opens in all of its zones", zap.Strings("zones", s.win.Zones()))
		h.Metrics.Sent(s.provider, s.op, s.p.Account, "failed")
		return time.Time{}, permanentError{fmt.Errorf("window: no time inside it in all of %s within a week", strings.Join(s.win.Zones(), ", "))}
	}
	if !open.After(from) {
		return open, nil
	}
	s.reason = "window"
	s.later(s.reason)
	if err := h.expired(s, open); err != nil {
		return time.Time{}, err
	}
	if err := h.Marks.SetWindow(ctx, s.id, open); err != nil {
		s.log.Warn("could not record the window's opening for the status", zap.Error(err))
	}
	s.windowAt = open
	return open, nil
}

// token returns the account's token, or the end of a try that has none:
// a wait that spends no attempt while its credential is renewed or
// replaced, or while another worker may have the account (noAccount).
func (h *Handler) token(ctx context.Context, s *try) (string, error) {
	provider, account := s.provider, s.p.Account
	token, err := h.Tokens.Token(ctx, provider, account)
	var wait *WaitError
	switch {
	case err == nil:
		return token, nil
	case errors.Is(err, ErrNoAccount):
		return "", h.noAccount(ctx, s)
	case errors.Is(err, ErrCannotSend):
		return "", h.archive(s, err)
	case errors.As(err, &wait):
		wait = &WaitError{Wait: wait.Wait, Failure: wait.Failure, Held: wait.Held, Reason: "credentials", Until: wait.Until, Err: wait.Err}
	default:
		wait = &WaitError{Wait: time.Second, Reason: "credentials", Err: err}
	}
	s.log.Debug("no token to send with yet", zap.Error(err))
	h.Metrics.Waited(provider, account, "credentials")
	return "", wait
}

// noAccount puts back a send whose account this worker does not have:
// another worker may have it (a rolling deploy, workers of different
// accounts). Past NoAccountGrace since a worker first found it so, it is
// archived.
func (h *Handler) noAccount(ctx context.Context, s *try) error {
	provider, account := s.provider, s.p.Account
	since, err := h.Marks.NoAccountSince(ctx, s.id, h.NoAccountGrace+noAccountRetryMax+time.Minute)
	if err != nil {
		return redisWait(err)
	}
	if waited := time.Since(since); waited < h.NoAccountGrace {
		h.Metrics.Waited(provider, account, "no_account")
		s.log.Debug("no such account on this worker: waiting for one that has it", zap.Duration("waited", waited))
		back := min(max(waited/4, noAccountRetryMin), noAccountRetryMax, h.NoAccountGrace-waited)
		return &WaitError{Wait: back, Reason: "no_account", Err: fmt.Errorf("no %s account %q on this worker: waiting for a worker that has it", provider, account)}
	}
	s.log.Error("no token for the account", zap.Duration("waited", h.NoAccountGrace))
	h.Metrics.Sent(provider, s.op, account, "failed")
	return permanentError{fmt.Errorf("no %s token for account %q on any worker that took it within NO_ACCOUNT_GRACE (%s)", provider, account, h.NoAccountGrace)}
}

// A send waiting for its account comes back after a quarter of the time
// it has waited, within these bounds: soon at first (a worker that has it
// may be starting), rarely once that has not been so for a while.
const (
	noAccountRetryMin = time.Second
	noAccountRetryMax = 30 * time.Second
)

// expired archives a send that cannot go before its expires_at: checked
// whenever a gate moves it, and right before each request.
func (h *Handler) expired(s *try, at time.Time) error {
	if s.p.ExpiresAt.IsZero() || at.Before(s.p.ExpiresAt) {
		return nil
	}
	s.log.Warn("expired before it could be sent", zap.Time("expires_at", s.p.ExpiresAt), zap.Time("earliest", at))
	h.Metrics.Sent(s.provider, s.op, s.p.Account, "expired")
	if time.Until(at) > time.Millisecond {
		what := "its " + s.reason + " lets it go at"
		if s.reason == "window" {
			what = "its window opens at"
		}
		return permanentError{fmt.Errorf("expired: %s %s, not before expires_at %s", what, at.Format(time.RFC3339), s.p.ExpiresAt.Format(time.RFC3339))}
	}
	return permanentError{fmt.Errorf("expired: not sent by %s", s.p.ExpiresAt.Format(time.RFC3339))}
}

// drop ends a send that was cancelled before it started: its key is freed,
// as a cancelled scheduled task's is, and the task removed.
func (h *Handler) drop(ctx context.Context, s *try, why string) error {
	if err := h.Marks.Forget(ctx, s.id, s.p.Claim); err != nil {
		s.log.Warn("could not free the key of a cancelled send", zap.Error(err))
	}
	h.Metrics.Sent(s.provider, s.op, s.p.Account, "cancelled")
	err := fmt.Errorf("%s before it was sent: %w", why, asynq.RevokeTask)
	s.log.Info("not sent", zap.Error(err))
	return err
}

// exit frees what a try that made no request booked, whatever way it
// ends: archived, cancelled, expired, put back, or stopped with the
// worker. Only the bookings at the time it went back to wait for stand.
func (h *Handler) exit(ctx context.Context, s *try) {
	if s.requested {
		return
	}
	for i, g := range s.gates {
		if at := s.booked[i]; !at.IsZero() && !at.Equal(s.back) {
			if err := g.(booking).free(context.WithoutCancel(ctx), s); err != nil {
				s.log.Warn("could not free a booking of a send that will not go now", zap.String("gate", g.cause()), zap.Error(err))
			}
		}
	}
}

// redisWait makes a Redis error a wait, not a failure: the send is not at
// fault, and trying again later spends no attempt.
func redisWait(err error) error {
	return &WaitError{Wait: time.Second, Reason: "redis", Err: fmt.Errorf("redis: %w", err)}
}
