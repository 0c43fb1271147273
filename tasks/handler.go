package tasks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/internal/pause"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/window"
)

// Scheduling: asynq keeps due and retry times in whole seconds, rounded
// down. A task is handed to asynq lead before its exact time and the
// handler holds it, outside the send slots, until that time; one handed out
// more than maxHold early goes back to the schedule without spending an
// attempt.
const (
	lead    = 500 * time.Millisecond
	maxHold = 2 * time.Second
)

// Limiter books rate-limit slots per provider and account.
type Limiter interface {
	// Reserve returns the send's slot at or after at, booking one if needed.
	Reserve(ctx context.Context, provider, account, taskID string, at time.Time) (slot time.Time, booked bool, err error)
	// Block keeps the account from sending before until.
	Block(ctx context.Context, provider, account string, until time.Time) error
	// BlockedUntil returns when the account's block ends; zero when none.
	BlockedUntil(ctx context.Context, provider, account string) (time.Time, error)
}

// Caps books the sends to each recipient within per-recipient caps.
type Caps interface {
	// Reserve books the send for each of its recipients at the one time
	// every cap covering it allows, at or after at, and returns it.
	Reserve(ctx context.Context, provider, account, taskID string, recipients []string, at time.Time) (time.Time, error)
	// Release frees the send's bookings: it will not be sent.
	Release(ctx context.Context, provider, account, taskID string, recipients []string) error
}

// Metrics is told what the handler does.
type Metrics interface {
	// Sent counts a try's outcome.
	Sent(provider, operation, account, outcome string)
	// Answered records how long a provider took; status 0 is no answer.
	Answered(provider, operation string, status int, took time.Duration)
	// Waited counts a send put back to wait without spending an attempt.
	Waited(provider, account, reason string)
	// Late records how long after its due time a send's request started,
	// and what made it late: on_time, window, rate_limit, recipient_cap,
	// provider_hold, retry or capacity.
	Late(provider, cause string, late time.Duration)
}

type noMetrics struct{}

func (noMetrics) Sent(_, _, _, _ string)                       {}
func (noMetrics) Answered(_, _ string, _ int, _ time.Duration) {}
func (noMetrics) Waited(_, _, _ string)                        {}
func (noMetrics) Late(_, _ string, _ time.Duration)            {}

// Tokens gives the token of a provider's account.
type Tokens interface {
	// Token returns the token to send with. An error wrapping ErrNoAccount
	// archives the send; a *WaitError puts it back for its Wait without
	// spending an attempt, and so does any other error, for a second.
	Token(ctx context.Context, provider, account string) (string, error)
	// Refused tells that the provider answered 401 to token, and reports
	// whether the account's credential is renewed: the send is then tried
	// again at once with the token Token gives.
	Refused(ctx context.Context, provider, account, token string) bool
	// Rejected tells that the provider answered 401 to a token renewed
	// for a 401 in the same try: the credential is refused, not its
	// token. Token then makes the account's sends wait.
	Rejected(ctx context.Context, provider, account, token string)
}

// ErrNoAccount is the error of a send whose account is not configured.
var ErrNoAccount = errors.New("no such account on this worker")

// Holds is what the handler keeps of a task beside asynq: State in Redis.
type Holds interface {
	Load(ctx context.Context, taskID string) (Hold, error)
	SetUntil(ctx context.Context, taskID string, t time.Time) error
	SetWindow(ctx context.Context, taskID string, at time.Time) error
	TakeCancel(ctx context.Context, taskID string) (bool, error)
	Sending(ctx context.Context, taskID string) error
	Sent(ctx context.Context, taskID string) error
	Forget(ctx context.Context, taskID, claim string) error
}

var _ Holds = State{}

// GroupCancels tells whether a send was cancelled with its group: Groups
// in Redis.
type GroupCancels interface {
	// Cancelled reports whether c's send, which joined its group at
	// generation gen, was cancelled with the group since; it then records
	// c.
	Cancelled(ctx context.Context, c Cancellation, gen int64) (bool, error)
}

var _ GroupCancels = Groups{}

// Handler sends due tasks of every type to their provider. Build it with
// its dependencies and Register it.
type Handler struct {
	// Transports are the providers' transports, by provider name: every
	// provider with a registered operation needs one.
	Transports map[string]*senders.Transport
	Tokens     Tokens
	Policy     senders.Policy
	Logger     *zap.Logger
	// Holds keeps the exact end of the waits providers ask for, the
	// cancellations of held tasks and the requests in flight.
	Holds Holds
	// Groups stops the sends of cancelled groups; nil checks no group.
	Groups GroupCancels
	// Limiter books each send's rate-limit slot; nil limits nothing.
	Limiter Limiter
	// Caps books each send's time with its recipients' caps; nil caps
	// nothing.
	Caps Caps
	// Metrics is told what happens; nil counts nothing.
	Metrics Metrics
	// Tracer makes a span of each send's request; nil makes none.
	Tracer trace.Tracer
	// Sends bounds the requests in flight; tasks held for their time do
	// not count. Unbounded when 0.
	Sends int
	// AtMostOnce names the providers whose sends are never repeated when
	// their outcome is unknown: such a send ends archived as unknown.
	AtMostOnce map[string]bool
	// Windows gives each send its window: its own, or its account's.
	// Give Named (SEND_WINDOWS) even when empty: a name it lacks then
	// archives the send instead of being ignored.
	Windows Windows

	slots chan struct{}
}

// Register wires h to every registered task type of mux. It fails when a
// dependency is missing.
func Register(mux *asynq.ServeMux, h *Handler) error {
	for _, p := range providers.Names() {
		if h.Transports[p] == nil {
			return fmt.Errorf("tasks: no %s transport", p)
		}
	}
	switch {
	case h.Tokens == nil:
		return errors.New("tasks: no tokens")
	case h.Logger == nil:
		return errors.New("tasks: no logger")
	case h.Holds == nil:
		return errors.New("tasks: no holds")
	}
	if h.Sends > 0 {
		h.slots = make(chan struct{}, h.Sends)
	}
	if h.Metrics == nil {
		h.Metrics = noMetrics{}
	}
	for _, t := range providers.Types() {
		mux.Handle(t, h)
	}
	return nil
}

// ProcessTask sends one task: not before its due time and rate-limit
// slot, not after it expires, and with the outcome the policy gives its
// answer.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	j, err := h.job(ctx, t)
	if err != nil {
		return err
	}
	token, release, err := h.ready(ctx, j)
	if err != nil {
		return err
	}
	defer release()
	if err := h.grouped(ctx, t, j); err != nil {
		return err
	}
	return h.send(ctx, t, j, token)
}

// grouped stops a send whose group was cancelled since it joined it. It is
// asked right before the request, after any hold, so that no send of a
// group starts once a cancel of the group has begun.
func (h *Handler) grouped(ctx context.Context, t *asynq.Task, j *job) error {
	if j.p.Group == "" || h.Groups == nil {
		return nil
	}
	queue, _ := asynq.GetQueueName(ctx)
	c := Cancellation{ID: j.id, Type: t.Type(), Queue: queue, Account: j.p.Account, Group: j.p.Group, At: time.Now()}
	cancelled, err := h.Groups.Cancelled(ctx, c, j.p.GroupGen)
	if err != nil {
		j.log.Warn("could not check the send's group", zap.Error(err))
		return redisWait(err)
	}
	if !cancelled {
		return nil
	}
	err = h.drop(ctx, j, "cancelled with its group "+j.p.Group)
	j.log.Info("not sent", zap.Error(err))
	return err
}

// drop ends a send that was cancelled before it started: its key is freed,
// as a cancelled scheduled task's is, and the task removed.
func (h *Handler) drop(ctx context.Context, j *job, why string) error {
	if err := h.Holds.Forget(ctx, j.id, j.p.Claim); err != nil {
		j.log.Warn("could not free the key of a cancelled send", zap.Error(err))
	}
	h.Metrics.Sent(j.provider, j.op, j.p.Account, "cancelled")
	return fmt.Errorf("%s before it was sent: %w", why, asynq.RevokeTask)
}

// job is one try of a task.
type job struct {
	id, op   string // the task id, and the action of its type: send_message
	provider string
	o        *providers.Operation
	p        Payload
	log      *zap.Logger
	// retried counts the failed tries so far; maxRetry those allowed.
	retried, maxRetry int
	// cause is what made the send go after its due time, for the
	// lateness metric: on_time until something holds it back.
	cause string
}

// later records what holds the send back, unless something else already did.
func (j *job) later(cause string) {
	if j.cause == "on_time" {
		j.cause = cause
	}
}

func (h *Handler) job(ctx context.Context, t *asynq.Task) (*job, error) {
	id, _ := asynq.GetTaskID(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	asynqMax, _ := asynq.GetMaxRetry(ctx)
	log := h.Logger.WithLazy(zap.String("task_id", id), zap.String("type", t.Type()), zap.Int("attempt", retried+1))
	provider, op, _ := strings.Cut(t.Type(), ":")
	j := &job{id: id, op: op, provider: provider, o: providers.Lookup(t.Type()), log: log, retried: retried, maxRetry: MaxRetry(asynqMax), cause: "on_time"}
	var err error
	if j.p, err = DecodePayload(t.Payload()); j.o == nil || err != nil {
		log.Error("malformed task", zap.Error(err))
		return nil, permanentError{fmt.Errorf("malformed %s task: %v", t.Type(), err)}
	}
	j.log = log.WithLazy(zap.String("account", j.p.Account))
	j.log.Debug("taken")
	return j, nil
}

// ready returns the token to send with and frees the send slot once the
// task may go: its due time come (held until then when close, put back to
// wait otherwise), inside its window, then its recipients' cap booking,
// its rate-limit booking at or after that, a send slot free, not cancelled
// meanwhile, and not expired. The calendars are asked when the send falls
// due, or at its window's opening, so sends of an account are booked in
// the order of their due times, each at the earliest time the limits
// allow, and sends released at an opening are spread by the limit; a cap
// books the time the send goes, so a send the account's limit moves books
// its cap again.
func (h *Handler) ready(ctx context.Context, j *job) (token string, release func(), err error) {
	provider, account := j.provider, j.p.Account
	hold, err := h.Holds.Load(ctx, j.id)
	if err != nil {
		j.log.Warn("could not read the task's state", zap.Error(err))
		return "", nil, redisWait(err)
	}
	if hold.Sending && h.AtMostOnce[provider] {
		return "", nil, h.unknown(ctx, j, errors.New("a worker stopped mid-request"))
	}
	win, windowed, err := h.Windows.Of(j.o, j.p)
	if err != nil {
		j.log.Error("the send's window cannot be kept", zap.Error(err))
		h.Metrics.Sent(provider, j.op, account, "failed")
		return "", nil, permanentError{err}
	}
	notBefore, reason := j.p.Due, "not_due"
	if j.retried > 0 {
		j.cause = "retry"
	}
	if hold.Until.After(notBefore) {
		notBefore, reason = hold.Until, "provider_hold"
		j.later(reason)
	}
	if windowed && !j.p.Due.IsZero() && !win.Contains(j.p.Due) {
		// Due outside its window: the window made it late, whether this
		// try or an earlier one waited for the opening.
		j.later("window")
	}
	recipients := h.recipients(j)
	defer func() {
		if recipients != nil && (errors.Is(err, asynq.SkipRetry) || errors.Is(err, asynq.RevokeTask)) {
			// Not sent after all: its place goes to the recipient's next send.
			if rerr := h.Caps.Release(context.WithoutCancel(ctx), provider, account, j.id, recipients); rerr != nil {
				j.log.Warn("could not free the recipients' cap bookings", zap.Error(rerr))
			}
		}
	}()
	booked, capped, held := h.Limiter == nil, recipients == nil, false
	var bookedAt, cappedAt time.Time
	for {
		if windowed {
			// Due, or booked, outside the window: the opening, booked anew.
			from := later(notBefore, time.Now())
			if open, err := h.opening(ctx, j, win, from); err != nil {
				return "", nil, err
			} else if open.After(from) {
				notBefore, reason = open, "window"
				booked, capped = h.Limiter == nil, recipients == nil
			}
		}
		if early := time.Until(notBefore); early > maxHold || early > 0 && !roomFor(ctx, early) {
			if err := h.expired(j); err != nil {
				return "", nil, err
			}
			h.Metrics.Waited(provider, account, reason)
			return "", nil, &WaitError{Wait: early, Held: true, Err: fmt.Errorf("not before %s (%s)", notBefore.Format(time.RFC3339Nano), reason)}
		}
		if !capped || !booked {
			held = held || time.Until(notBefore) > 0
			if err := pause.For(ctx, time.Until(notBefore)); err != nil {
				return "", nil, err
			}
		}
		if !capped {
			at, err := h.capTime(ctx, j, recipients, notBefore)
			if err != nil {
				return "", nil, err
			}
			if capped, cappedAt = true, at; moves(at, notBefore) {
				notBefore, reason = at, "recipient_cap"
				j.later(reason)
				booked = h.Limiter == nil // the account's slot follows
				continue
			}
		}
		if !booked {
			slot, err := h.slotTime(ctx, j, notBefore)
			if err != nil {
				return "", nil, err
			}
			if booked, bookedAt = true, slot; moves(slot, notBefore) {
				notBefore, reason = slot, "rate_limit"
				j.later(reason)
				capped = recipients == nil // the cap counts the send when it goes
				continue
			}
		}
		held = held || time.Until(notBefore) > 0
		release, err = h.hold(ctx, j, notBefore, held)
		if err != nil {
			j.log.Info("not sent", zap.Error(err))
			return "", nil, err
		}
		if recipients != nil && time.Since(cappedAt) > rebookAfter {
			// Late for its cap booking: the calendar lets it keep one it
			// is a little late for, and books it again otherwise.
			at, err := h.capTime(ctx, j, recipients, notBefore)
			if err != nil {
				release()
				return "", nil, err
			}
			if cappedAt = at; moves(at, notBefore) {
				release()
				notBefore, reason = at, "recipient_cap"
				j.later(reason)
				booked = h.Limiter == nil
				continue
			}
		}
		if h.Limiter == nil {
			break
		}
		if time.Since(bookedAt) > rebookAfter {
			// Late for its booking (kept waiting for a send slot, or for
			// the CPU on a busy machine): the send asks the calendar again
			// rather than crowd the sends booked after it. The calendar
			// lets it keep a booking it is only a little late for.
			slot, err := h.slotTime(ctx, j, notBefore)
			if err != nil {
				release()
				return "", nil, err
			}
			if bookedAt = slot; !moves(slot, notBefore) {
				break
			}
			release()
			notBefore, reason = slot, "rate_limit"
			j.later(reason)
			capped = recipients == nil
			continue
		}
		if !held {
			break
		}
		// Held: the provider may have held the account back meanwhile.
		until, err := h.Limiter.BlockedUntil(ctx, provider, account)
		if err == nil && time.Until(until) <= 0 {
			break
		}
		release()
		if err != nil {
			return "", nil, redisWait(err)
		}
		h.Metrics.Waited(provider, account, "provider_hold")
		return "", nil, &WaitError{Wait: time.Until(until), Err: fmt.Errorf("%s account %q held back by its provider until %s", provider, account, until.Format(time.RFC3339Nano))}
	}
	if err := h.expired(j); err != nil {
		release()
		return "", nil, err
	}
	token, err = h.token(ctx, j)
	if err != nil {
		release()
		return "", nil, err
	}
	if now := time.Now(); windowed && !win.Contains(now) {
		// A long hold, a rebooking or a slow token pushed the send past
		// the window's close: it waits for the next opening.
		release()
		open, err := h.opening(ctx, j, win, now)
		if err != nil {
			return "", nil, err
		}
		h.Metrics.Waited(provider, account, "window")
		return "", nil, &WaitError{Wait: time.Until(open), Held: true, Err: fmt.Errorf("outside its window: not before %s (window)", open.Format(time.RFC3339Nano))}
	}
	return token, release, nil
}

// opening returns the earliest time at or after from inside the send's
// window, and records it when it is later. A send whose window opens only
// once it has expired, or never, is archived.
func (h *Handler) opening(ctx context.Context, j *job, win window.Window, from time.Time) (time.Time, error) {
	open, ok := win.Next(from)
	switch {
	case !ok:
		j.log.Error("the send's window never opens in all of its zones", zap.Strings("zones", win.Zones()))
		h.Metrics.Sent(j.provider, j.op, j.p.Account, "failed")
		return time.Time{}, permanentError{fmt.Errorf("window: no time inside it in all of %s within a week", strings.Join(win.Zones(), ", "))}
	case !open.After(from):
		return open, nil
	case !j.p.ExpiresAt.IsZero() && !open.Before(j.p.ExpiresAt):
		j.log.Warn("expired before its window opens", zap.Time("expires_at", j.p.ExpiresAt), zap.Time("opening", open))
		h.Metrics.Sent(j.provider, j.op, j.p.Account, "expired")
		return time.Time{}, permanentError{fmt.Errorf("expired: its window opens at %s, not before expires_at %s", open.Format(time.RFC3339), j.p.ExpiresAt.Format(time.RFC3339))}
	}
	j.later("window")
	if err := h.Holds.SetWindow(ctx, j.id, open); err != nil {
		j.log.Warn("could not record the window's opening for the status", zap.Error(err))
	}
	return open, nil
}

// recipients returns the addresses of the send that caps count; nil when
// no cap can apply.
func (h *Handler) recipients(j *job) []string {
	if h.Caps == nil || j.o.Recipients == nil {
		return nil
	}
	if r := j.o.Recipients(j.p.Body); len(r) > 0 {
		return r
	}
	return nil
}

// capTime books the send with its recipients' caps at or after at, and
// returns its time; an error is a wait.
func (h *Handler) capTime(ctx context.Context, j *job, recipients []string, at time.Time) (time.Time, error) {
	t, err := h.Caps.Reserve(ctx, j.provider, j.p.Account, j.id, recipients, at)
	if err != nil {
		j.log.Warn("could not book the recipients' caps", zap.Error(err))
		return time.Time{}, redisWait(err)
	}
	return t, nil
}

// slotTime books the send's rate-limit slot at or after at, and returns
// its time; an error is a wait.
func (h *Handler) slotTime(ctx context.Context, j *job, at time.Time) (time.Time, error) {
	slot, _, err := h.Limiter.Reserve(ctx, j.provider, j.p.Account, j.id, at)
	if err != nil {
		j.log.Warn("could not book a rate-limit slot", zap.Error(err))
		return time.Time{}, redisWait(err)
	}
	return slot, nil
}

// moves reports whether a booking at slot, of a cap or of the rate limit,
// moves a send due at notBefore. The calendars book on Redis's clock, to
// the millisecond: a slot within a millisecond of now is now, not a wait.
func moves(slot, notBefore time.Time) bool {
	return slot.After(notBefore) && time.Until(slot) > time.Millisecond
}

// token returns the account's token, or the end of a try that has none:
// the archive for an account not configured, a wait that spends no
// attempt while its credential is renewed or replaced.
func (h *Handler) token(ctx context.Context, j *job) (string, error) {
	provider, account := j.provider, j.p.Account
	token, err := h.Tokens.Token(ctx, provider, account)
	var wait *WaitError
	switch {
	case err == nil:
		return token, nil
	case errors.Is(err, ErrNoAccount):
		j.log.Error("no token for the account")
		h.Metrics.Sent(provider, j.op, account, "failed")
		return "", permanentError{fmt.Errorf("no %s token for account %q on this worker", provider, account)}
	case !errors.As(err, &wait):
		wait = &WaitError{Wait: time.Second, Err: err}
	}
	j.log.Debug("no token to send with yet", zap.Error(err))
	h.Metrics.Waited(provider, account, "credentials")
	return "", wait
}

// expired archives a task whose expires_at has come: it is checked right
// before the request, after any hold.
func (h *Handler) expired(j *job) error {
	if j.p.ExpiresAt.IsZero() || time.Now().Before(j.p.ExpiresAt) {
		return nil
	}
	j.log.Warn("expired before it could be sent", zap.Time("expires_at", j.p.ExpiresAt))
	h.Metrics.Sent(j.provider, j.op, j.p.Account, "expired")
	return permanentError{fmt.Errorf("expired: not sent by %s", j.p.ExpiresAt.Format(time.RFC3339))}
}

// unknown ends a send whose request may have reached an at-most-once
// provider with no answer: archived, to be retried by hand once someone
// has looked. The mark is cleared so that a retry by hand sends.
func (h *Handler) unknown(ctx context.Context, j *job, cause error) error {
	if ctx.Err() != nil {
		// asynq gave up on this try (its deadline, a lease lost, shutdown)
		// and puts the task back: the mark stays, so it is parked then.
		return cause
	}
	if err := h.Holds.Sent(ctx, j.id); err != nil {
		j.log.Warn("could not clear the sending mark", zap.Error(err))
	}
	j.log.Error("outcome unknown: not sent again", zap.Error(cause))
	h.Metrics.Sent(j.provider, j.op, j.p.Account, "unknown")
	return permanentError{fmt.Errorf("outcome unknown (%s is at most once): %w", j.provider, cause)}
}

// outcomes names the outcomes in metrics.
var outcomes = map[senders.Outcome]string{
	senders.Success: "sent", senders.Duplicate: "duplicate", senders.Retry: "retry",
	senders.Wait: "rate_limited", senders.Permanent: "failed", senders.Unknown: "unknown",
}

// send makes the request and turns the answer into the task's end: a
// stored result, a retry, a wait or the archive.
func (h *Handler) send(ctx context.Context, t *asynq.Task, j *job, token string) error {
	provider, account := j.provider, j.p.Account
	atMostOnce := h.AtMostOnce[provider]
	if atMostOnce {
		if err := h.Holds.Sending(ctx, j.id); err != nil {
			j.log.Warn("could not mark the send in flight", zap.Error(err))
			return redisWait(err)
		}
	}
	start := time.Now()
	if !j.p.Due.IsZero() {
		h.Metrics.Late(provider, j.cause, start.Sub(j.p.Due))
	}
	ctx, span := h.startSpan(ctx, t.Type(), j, start)
	r, err := j.o.Send(ctx, h.Transports[provider], token, j.p.Body)
	if unauthorized(err) && h.Tokens.Refused(ctx, provider, account, token) {
		var done bool
		if r, done, err = h.renewed(ctx, j); done {
			endSpan(span, http.StatusUnauthorized, senders.Wait, err)
			if atMostOnce {
				if serr := h.Holds.Sent(ctx, j.id); serr != nil {
					j.log.Warn("could not clear the sending mark", zap.Error(serr))
				}
			}
			return err
		}
	}
	took := time.Since(start)
	outcome, wait := h.Policy.Classify(err, j.o.Duplicate)
	log := j.log.WithLazy(zap.Duration("latency", took))
	var ans answer
	if r != nil {
		ans = answer{status: r.StatusCode, body: r.Body, readErr: r.ReadErr}
	}
	var apiErr *senders.APIError
	if errors.As(err, &apiErr) {
		log = log.WithLazy(zap.Int("status", apiErr.StatusCode))
		ans = answer{status: apiErr.StatusCode, body: apiErr.Body}
	}
	h.Metrics.Answered(provider, j.op, ans.status, took)
	endSpan(span, ans.status, outcome, err)
	if outcome == senders.Unknown {
		if atMostOnce {
			return h.unknown(ctx, j, err)
		}
		outcome = senders.Retry
	}
	// A delivered send keeps its mark (State.Sent), and so does a try asynq
	// gave up on: it comes back, and is parked then.
	if atMostOnce && outcome != senders.Success && outcome != senders.Duplicate && ctx.Err() == nil {
		if serr := h.Holds.Sent(ctx, j.id); serr != nil {
			log.Warn("could not clear the sending mark", zap.Error(serr))
		}
	}
	if outcome == senders.Retry && j.retried >= j.maxRetry {
		h.Metrics.Sent(provider, j.op, account, "failed")
		log.Error("send failed; no retries left", zap.Int("max_retry", j.maxRetry), zap.Error(err))
		return permanentError{fmt.Errorf("no retries left (%d failed tries): %w", j.retried+1, err)}
	}
	h.Metrics.Sent(provider, j.op, account, outcomes[outcome])
	switch outcome {
	case senders.Success, senders.Duplicate:
		dup := outcome == senders.Duplicate
		res := Result{Provider: provider, Status: ans.status, Duplicate: dup, Response: ans.body}
		if _, werr := t.ResultWriter().Write(res.appendJSON(nil)); werr != nil {
			log.Warn("could not store the result", zap.Error(werr))
		}
		if ans.readErr != nil {
			log.Warn("the provider took the send; its answer was cut off", zap.Error(ans.readErr))
		}
		if dup {
			log.Info("already sent: the provider has this message")
		} else {
			log.Info("sent", zap.Int("status", ans.status), zap.Stringer("provider_id", lazy(func() string { return j.answerID(ans.body) })))
		}
		return nil
	case senders.Wait, senders.Retry:
		if outcome == senders.Wait {
			h.block(ctx, log, provider, account, wait)
			h.Metrics.Waited(provider, account, "rate_limit")
		}
		w := &WaitError{Wait: wait, Failure: outcome == senders.Retry, Err: err}
		if wait > 0 {
			if serr := h.Holds.SetUntil(ctx, j.id, time.Now().Add(wait)); serr != nil {
				log.Warn("could not keep the wait; the retry rounds it up to the second", zap.Error(serr))
			} else {
				w.Held = true
			}
		}
		if w.Failure {
			log.Warn("send failed; will retry", zap.Duration("wait", wait), zap.Error(err))
		} else {
			log.Info("rate limited", zap.Duration("wait", wait), zap.Error(err))
		}
		return w
	default:
		log.Error("send failed permanently", zap.Error(err))
		return permanentError{err}
	}
}

// renewed sends again, with the renewed token, a send whose token its
// provider refused with a 401: the credential is renewable, so the 401 is
// the token's, not the send's. done is true when the try ends with err:
// no token could be had, or the renewed one was refused too, when the
// credential is at fault and the send waits with its account, never
// archived.
func (h *Handler) renewed(ctx context.Context, j *job) (r *senders.Response[senders.Undecoded], done bool, err error) {
	j.log.Info("token refused: renewing it and sending again")
	token, err := h.token(ctx, j)
	if err != nil {
		return nil, true, err
	}
	if r, err = j.o.Send(ctx, h.Transports[j.provider], token, j.p.Body); !unauthorized(err) {
		return r, false, err
	}
	j.log.Warn("the renewed token was refused too: the account waits for a new credential")
	h.Tokens.Rejected(ctx, j.provider, j.p.Account, token)
	if _, terr := h.token(ctx, j); terr != nil {
		return nil, true, terr
	}
	return nil, true, &WaitError{Wait: time.Second, Err: err}
}

// unauthorized reports whether err is a provider's 401.
func unauthorized(err error) bool {
	var apiErr *senders.APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized
}

// block keeps the account from sending for wait: the provider knows better
// than the local calendar.
func (h *Handler) block(ctx context.Context, log *zap.Logger, provider, account string, wait time.Duration) {
	if h.Limiter == nil || wait <= 0 {
		return
	}
	if err := h.Limiter.Block(ctx, provider, account, time.Now().Add(wait)); err != nil {
		log.Warn("could not hold the account back", zap.Error(err))
	}
}

// A send waits at most capacityWait (and half the time its try has left)
// for a send slot, then goes back to its queue for capacityRetry without
// spending an attempt: a task is never timed out by asynq for want of
// capacity. One that is ready to go more than rebookAfter after its
// booking asks the calendar whether it may still go: the calendar's
// spacing leaves a few milliseconds for a send to be late (a few percent
// of the rate's period), not more.
const (
	capacityWait  = 5 * time.Second
	capacityRetry = 100 * time.Millisecond
	rebookAfter   = time.Millisecond
)

// hold waits until notBefore, then for a send slot, and returns the
// function that frees the slot. A
// send cancelled while it was held (held: it waited for its time) or
// waited for a slot is not sent: it is dropped and its key freed, as a
// cancelled scheduled task is.
func (h *Handler) hold(ctx context.Context, j *job, notBefore time.Time, held bool) (release func(), err error) {
	if err := pause.For(ctx, time.Until(notBefore)); err != nil {
		return nil, err
	}
	release = func() {}
	waited := false
	if h.slots != nil {
		select {
		case h.slots <- struct{}{}:
		default:
			wait := capacityWait
			if deadline, ok := ctx.Deadline(); ok {
				wait = min(wait, time.Until(deadline)/2) // leave the request its time
			}
			timer := time.NewTimer(wait)
			defer timer.Stop()
			select {
			case h.slots <- struct{}{}:
			case <-timer.C:
				h.Metrics.Waited(j.provider, j.p.Account, "capacity")
				return nil, &WaitError{Wait: capacityRetry, Err: errors.New("no send slot free: the worker is at WORKER_CONCURRENCY")}
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			waited = true
			j.later("capacity")
		}
		release = func() { <-h.slots }
	}
	if !held && !waited {
		return release, nil
	}
	cancelled, err := h.Holds.TakeCancel(ctx, j.id)
	if err != nil {
		release()
		return nil, redisWait(fmt.Errorf("could not check for a cancellation: %w", err))
	}
	if cancelled {
		release()
		return nil, h.drop(ctx, j, "cancelled")
	}
	return release, nil
}

// answer is a provider's answer, for the result and the log.
type answer struct {
	status int
	body   []byte
	// readErr cut the body of a 2xx answer short: the send happened.
	readErr error
}

// answerID reads the provider's id of what was sent from its answer.
func (j *job) answerID(body []byte) string {
	if j.o.AnswerID == nil {
		return ""
	}
	return j.o.AnswerID(body)
}

// lazy is a string computed only when a log line is written.
type lazy func() string

func (f lazy) String() string { return f() }

// roomFor reports whether a try can hold its task for d and keep at least
// as long again for the rest: one whose deadline is nearer goes back to
// wait instead, so that asynq does not time it out, spending an attempt.
func roomFor(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) >= 2*d
}

// redisWait makes a Redis error a wait, not a failure: the send is not at
// fault, and trying again later spends no attempt.
func redisWait(err error) error {
	return &WaitError{Wait: time.Second, Err: fmt.Errorf("redis: %w", err)}
}
