package providers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/senders"
)

// Operation is one task type: everything that differs between types, from
// the payload a producer gives to the request a worker makes. A provider's
// package declares its operations and Register adds them; producers, the
// worker, the CLI and the metrics find them by type.
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
	// AnswerID reads the provider's id of what was sent from a 2xx answer,
	// for the log; nil when the answer names none.
	AnswerID func(answer []byte) string
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

var (
	mu       sync.RWMutex
	registry = map[string]*Operation{}
	types    []string
)

// Register adds operations, as database/sql's Register adds a driver. It
// panics on a type given twice or not of the form provider:action, or an
// operation without a schema or a send: mistakes to find at start-up, not
// when the first task of the type comes.
func Register(ops ...Operation) {
	mu.Lock()
	defer mu.Unlock()
	for _, op := range ops {
		p, a, ok := strings.Cut(op.Type, ":")
		switch {
		case !ok || p == "" || a == "":
			panic(fmt.Sprintf("providers: type %q is not provider:action", op.Type))
		case registry[op.Type] != nil:
			panic(fmt.Sprintf("providers: type %q registered twice", op.Type))
		case op.Schema == nil || op.Send == nil:
			panic(fmt.Sprintf("providers: type %q has no schema or no send", op.Type))
		}
		registry[op.Type] = &op
		types = append(types, op.Type)
	}
}

// Lookup returns the operation of a task type; nil when none is registered.
func Lookup(typ string) *Operation {
	mu.RLock()
	defer mu.RUnlock()
	return registry[typ]
}

// Types lists the registered task types, in the order they were registered.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	return slices.Clone(types)
}

// Names lists the providers of the registered operations, each once, in
// the order they were registered.
func Names() []string {
	var names []string
	for _, t := range Types() {
		if p, _, _ := strings.Cut(t, ":"); !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	return names
}
