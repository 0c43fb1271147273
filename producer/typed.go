package producer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/tasks"
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

// SendMateoMessage schedules POST /send_message, due at req.SendAfter
// unless At says otherwise.
func (p *Producer) SendMateoMessage(ctx context.Context, req *mateo.SendMessageRequest, opts ...SendOption) (*Enqueued, error) {
	return p.enqueueTyped(ctx, mateo.TypeSendMessage, req, opts)
}

// UpdateMateoConversation schedules PATCH /conversation?id=eq.{u.ID}.
func (p *Producer) UpdateMateoConversation(ctx context.Context, u *mateo.ConversationUpdate, opts ...SendOption) (*Enqueued, error) {
	return p.enqueueTyped(ctx, mateo.TypeUpdateConversation, u, opts)
}

// SendLeadConnectorMessage schedules POST /conversations/messages, due at
// req.ScheduledTimestamp unless At says otherwise.
func (p *Producer) SendLeadConnectorMessage(ctx context.Context, req *leadconnector.SendMessageRequest, opts ...SendOption) (*Enqueued, error) {
	return p.enqueueTyped(ctx, leadconnector.TypeSendMessage, req, opts)
}

// enqueueTyped enqueues a typed request through the envelope, so that it is
// validated exactly as JSON input is.
func (p *Producer) enqueueTyped(ctx context.Context, typ string, req any, opts []SendOption) (*Enqueued, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", typ, err)
	}
	e := &tasks.Envelope{Type: typ, Payload: payload}
	for _, opt := range opts {
		opt(e)
	}
	return p.Enqueue(ctx, e)
}
