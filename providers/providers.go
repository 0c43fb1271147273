package providers

import (
	"context"
	"strings"
	"time"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/senders"
)

// Operation is one task type: everything that differs between types, from
// the payload a producer gives to the request a worker makes. A provider's
// package declares its operations in its Provider; producers, the worker,
// the CLI and the metrics find them by type in a Registry.
type Operation struct {
	// Type is the asynq task type, provider:action. Types are stored in
	// Redis with every task: a wire format, never renamed.
	Type string
	// Queue is the queue of a send that names none; the provider's name
	// when empty.
	Queue string
	// Schema checks a payload before it is enqueued.
	Schema jsonvalue.Schema
	// Prepare makes a validated payload ready to send: it takes the time
	// field out and returns the due time it named (zero when none), and
	// may add fields (Mateo's message id). Nil leaves the payload as it is.
	Prepare func(d *Draft) (due time.Time, err error)
	// Send makes the request with the prepared body through the provider's
	// transport, and returns its 2xx answer undecoded.
	Send func(ctx context.Context, t *senders.Transport, token string, body []byte) (*senders.Response[senders.Undecoded], error)
	// AnswerIDs reads the provider's ids of what was sent (its message,
	// its conversation) from a 2xx answer, by the answer's names for them:
	// all a completed send keeps of its answer, and what its log names.
	// Nil, or an answer that names none: nothing.
	AnswerIDs func(answer []byte) map[string]string
	// Duplicate reports whether an error answer means that the provider
	// already has what was sent (Mateo's 409 on a message id): the send is
	// done. Nil: no answer does.
	Duplicate func(*senders.APIError) bool
	// Recipients reads the addresses a prepared body sends to (phone
	// numbers, e-mail addresses, handles), in the order it names them:
	// what a send window in the recipient's zone and a per-recipient cap
	// go by. Nil: the operation sends to no one (an update).
	Recipients func(body []byte) []string
}

// Draft is a payload being made ready to enqueue.
type Draft struct {
	// Account is the envelope's account, the default applied.
	Account string
	// Key is the envelope's idempotency key; "" when it has none.
	Key string
	// Body is the payload, decoded as jsonvalue.DecodeJSON decodes it.
	Body map[string]any
}

// Provider returns the provider of the operation: the part of its type
// before the colon.
func (o *Operation) Provider() string {
	p, _, _ := strings.Cut(o.Type, ":")
	return p
}

// Action returns the operation's action, as metrics and errors name it:
// the part of its type after the colon.
func (o *Operation) Action() string {
	_, a, _ := strings.Cut(o.Type, ":")
	return a
}

// DefaultQueue returns the queue of a send that names none.
func (o *Operation) DefaultQueue() string {
	if o.Queue != "" {
		return o.Queue
	}
	return o.Provider()
}

// IDs makes the ids of an answer from name, value pairs, leaving out
// those the answer did not give; nil when it gave none.
func IDs(pairs ...string) map[string]string {
	var ids map[string]string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			continue
		}
		if ids == nil {
			ids = map[string]string{}
		}
		ids[pairs[i]] = pairs[i+1]
	}
	return ids
}
