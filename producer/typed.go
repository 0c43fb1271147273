package producer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/window"
)

// SendOption sets a field of the envelope of a typed send.
type SendOption func(*sendSettings)

// sendSettings are what the options of one Send set: its envelope, and
// which window options were given, to refuse two that contradict.
type sendSettings struct {
	env          *tasks.Envelope
	window, name bool
}

// Account sends with the named account's credential instead of "default".
func Account(name string) SendOption { return func(s *sendSettings) { s.env.Account = name } }

// Key sets the idempotency key: the task id is derived from it.
func Key(key string) SendOption { return func(s *sendSettings) { s.env.Key = key } }

// Queue puts the task into queue instead of its provider's.
func Queue(queue string) SendOption { return func(s *sendSettings) { s.env.Queue = queue } }

// At sets the due time; it wins over the time in the request.
func At(t time.Time) SendOption { return func(s *sendSettings) { s.env.ProcessAt = t } }

// ExpiresAt gives the send up if it has not succeeded by t.
func ExpiresAt(t time.Time) SendOption { return func(s *sendSettings) { s.env.ExpiresAt = t } }

// Window sends only inside a window spelled out, e.g.
// window.Spec{TZ: "America/New_York", Days: "mon-sat", From: "08:00", To: "21:00"}
// (TZ "auto": the zones of the recipients' numbers), instead of the
// account's window. It and NamedWindow exclude each other: Send refuses
// both.
func Window(spec window.Spec) SendOption {
	return func(s *sendSettings) { s.env.Window, s.window = tasks.Window{Spec: spec}, true }
}

// NamedWindow sends only inside the window SEND_WINDOWS names name. It and
// Window exclude each other: Send refuses both.
func NamedWindow(name string) SendOption {
	return func(s *sendSettings) { s.env.Window, s.name = tasks.Window{Name: name}, true }
}

// Group puts the send into the cancellation group g (such as
// "contact:abc123"): CancelGroup(g) cancels it with the group's other
// sends until it starts.
func Group(g string) SendOption { return func(s *sendSettings) { s.env.Group = g } }

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
	s := sendSettings{env: &tasks.Envelope{Type: req.TaskType(), Payload: payload}}
	for _, opt := range opts {
		opt(&s)
	}
	if s.window && s.name {
		return nil, &jsonvalue.FieldError{Path: "window", Reason: "Window and NamedWindow both given: a send has one window, spelled out or named"}
	}
	return p.Enqueue(ctx, s.env)
}
