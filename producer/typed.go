package producer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/window"
)

// SendOption sets a field of the envelope of a typed send.
type SendOption func(*tasks.Envelope)

// Account sends with the named account's credential instead of "default".
func Account(name string) SendOption { return func(e *tasks.Envelope) { e.Account = name } }

// Key sets the idempotency key: the task id is derived from it.
func Key(key string) SendOption { return func(e *tasks.Envelope) { e.Key = key } }

// Queue puts the task into queue instead of its provider's.
func Queue(queue string) SendOption { return func(e *tasks.Envelope) { e.Queue = queue } }

// At sets the due time; it wins over the time in the request.
func At(t time.Time) SendOption { return func(e *tasks.Envelope) { e.ProcessAt = t } }

// ExpiresAt gives the send up if it has not succeeded by t.
func ExpiresAt(t time.Time) SendOption { return func(e *tasks.Envelope) { e.ExpiresAt = t } }

// Window sends only inside a window spelled out, e.g.
// window.Spec{TZ: "America/New_York", Days: "mon-sat", From: "08:00", To: "21:00"}
// (TZ "auto": the zones of the recipients' numbers), instead of the
// account's window.
func Window(spec window.Spec) SendOption {
	return func(e *tasks.Envelope) { e.Window = tasks.Window{Spec: spec} }
}

// NamedWindow sends only inside the window SEND_WINDOWS names name.
func NamedWindow(name string) SendOption {
	return func(e *tasks.Envelope) { e.Window = tasks.Window{Name: name} }
}

// Group puts the send into the cancellation group g (such as
// "contact:abc123"): CancelGroup(g) cancels it with the group's other
// sends until it starts.
func Group(g string) SendOption { return func(e *tasks.Envelope) { e.Group = g } }

// Request is a provider's typed request: mateo.SendMessageRequest,
// mateo.ConversationUpdate, leadconnector.SendMessageRequest. It names the
// task type it is the payload of.
type Request interface {
	TaskType() string
}

// Send schedules req, due at the time it names (Mateo's SendAfter,
// LeadConnector's ScheduledTimestamp) unless At says otherwise. It goes
// through the envelope, so it is validated exactly as JSON input is.
func (p *Producer) Send(ctx context.Context, req Request, opts ...SendOption) (*Enqueued, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.TaskType(), err)
	}
	e := &tasks.Envelope{Type: req.TaskType(), Payload: payload}
	for _, opt := range opts {
		opt(e)
	}
	return p.Enqueue(ctx, e)
}
