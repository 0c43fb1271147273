package send

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
)

// Limiter books rate-limit slots per provider and account.
type Limiter interface {
	// Reserve returns the send's slot at or after at, booking one if needed.
	Reserve(ctx context.Context, provider, account, taskID string, at time.Time) (slot time.Time, booked bool, err error)
	// Block keeps the account from sending before until: Reserve books
	// no slot before it.
	Block(ctx context.Context, provider, account string, until time.Time) error
	// Release frees the send's slot: it will not be sent then.
	Release(ctx context.Context, provider, account, taskID string) error
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
	// puts the send back for NO_ACCOUNT_GRACE, one wrapping ErrCannotSend
	// archives it; a *WaitError puts it back for its Wait without spending
	// an attempt, and so does any other error, for a second.
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

// ErrCannotSend is the error of a send whose account is configured but
// cannot send (an agency, which only mints its locations' tokens): the
// send is archived at once with the error's message.
var ErrCannotSend = errors.New("the account cannot send")

// MarkStore keeps a task's marks beside asynq: state.Store in Redis.
type MarkStore interface {
	Load(ctx context.Context, taskID string) (state.Marks, error)
	SetUntil(ctx context.Context, taskID string, t time.Time) error
	SetWindow(ctx context.Context, taskID string, at time.Time) error
	TakeCancel(ctx context.Context, taskID string) (bool, error)
	Sending(ctx context.Context, taskID, fp string) error
	Complete(ctx context.Context, taskID string, completion []byte, keep time.Duration) error
	ClearSending(ctx context.Context, taskID string) error
	NoAccountSince(ctx context.Context, taskID string, keep time.Duration) (time.Time, error)
	Forget(ctx context.Context, taskID, claim string) error
}

var _ MarkStore = state.Store{}

// GroupCancels tells whether a send was cancelled with its group: Groups
// in Redis.
type GroupCancels interface {
	// Cancelled reports whether c's send, which joined its group at
	// generation gen, was cancelled with the group since; it then records
	// c.
	Cancelled(ctx context.Context, c state.Cancellation, gen int64) (bool, error)
}

var _ GroupCancels = state.Groups{}

// Handler sends due tasks of every type to their provider. Build it with
// its dependencies and Register it.
type Handler struct {
	// Providers are the operations the handler sends: Register wires
	// their types, and a task is sent by its type's operation here.
	Providers providers.Registry
	// Transports are the providers' transports, by provider name: every
	// provider of Providers needs one.
	Transports map[string]*senders.Transport
	Tokens     Tokens
	Policy     senders.Policy
	Logger     *zap.Logger
	// Marks keeps the exact end of the waits providers ask for, the
	// cancellations of held tasks, the requests in flight and the sends
	// made.
	Marks MarkStore
	// Retention is how long the record of a send made is kept
	// (RESULT_RETENTION), where the Redis client asynq is given does not
	// write it (an at-most-once send's is written at once).
	Retention time.Duration
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
	Windows tasks.Windows
	// NoAccountGrace is how long a send whose account this worker lacks
	// waits for a worker that has it before it is archived.
	NoAccountGrace time.Duration
	// Stopping is closed when the worker stops taking tasks: a try not yet
	// at its request is put back then, rather than start a request that
	// the stop's bound could cut off. Nil: never.
	Stopping <-chan struct{}

	slots chan struct{}
}

// Register wires h to every task type of h.Providers in mux. It fails
// when a dependency is missing.
func Register(mux *asynq.ServeMux, h *Handler) error {
	if len(h.Providers) == 0 {
		return errors.New("send: no providers")
	}
	for _, p := range h.Providers.Names() {
		if h.Transports[p] == nil {
			return fmt.Errorf("send: no %s transport", p)
		}
	}
	switch {
	case h.Tokens == nil:
		return errors.New("send: no tokens")
	case h.Logger == nil:
		return errors.New("send: no logger")
	case h.Marks == nil:
		return errors.New("send: no marks")
	case h.Retention <= 0:
		return errors.New("send: no retention")
	}
	if h.Sends > 0 {
		h.slots = make(chan struct{}, h.Sends)
	}
	if h.Metrics == nil {
		h.Metrics = noMetrics{}
	}
	for _, t := range h.Providers.Types() {
		mux.Handle(t, h)
	}
	return nil
}
