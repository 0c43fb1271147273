package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/internal/asynqadapter"
	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/window"
)

// DefaultAccount is the account of an envelope that names none.
const DefaultAccount = "default"

// Envelope is one send as producers submit it: a line of a batch file, the
// argument of `enqueue send`, the input of the Go producer.
type Envelope struct {
	// Type is one of Types.
	Type string `json:"type"`
	// Account names a credential configured on the worker; DefaultAccount when empty.
	Account string `json:"account,omitempty"`
	// Key is an idempotency key: the task id is derived from it.
	Key string `json:"key,omitempty"`
	// Queue is the asynq queue; the provider's queue when empty.
	Queue string `json:"queue,omitempty"`
	// ProcessAt is the due time; it wins over the time in the payload.
	ProcessAt time.Time `json:"process_at,omitzero"`
	// ExpiresAt is when a send that has not succeeded is given up.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Window is when the send may go: a window of SEND_WINDOWS by name, or
	// one spelled out; the account's window when zero.
	Window Window `json:"window,omitzero"`
	// Group names the cancellation group the send belongs to (IsGroup):
	// cancelling the group cancels every send of it that has not started.
	Group string `json:"group,omitempty"`
	// Payload is the provider's own request body.
	Payload json.RawMessage `json:"payload"`

	parsed parsedPayload // Payload decoded, by ParseEnvelope
	// known is the type Validate found and its default queue, which
	// QueueName gives without the registry.
	known struct{ typ, queue string }
}

// parsedPayload is an envelope's payload decoded once, with a hash of the
// text it was decoded from and the type whose schema it was found to match.
// The hash, not the slice, says whether Payload is still that text: a
// payload edited in place keeps its slice.
type parsedPayload struct {
	sum     uint64
	tree    any
	matches string
}

// payloadSeed keys the hashes of payloads; random per process, so that no
// edit can be made to collide on purpose.
var payloadSeed = maphash.MakeSeed()

func parsed(text []byte, tree any) parsedPayload {
	return parsedPayload{sum: maphash.Bytes(payloadSeed, text), tree: tree}
}

// payload returns the payload decoded, decoding it unless it was decoded
// from the same text before.
func (e *Envelope) payload() (any, error) {
	if e.parsed.tree != nil && e.parsed.sum == maphash.Bytes(payloadSeed, e.Payload) {
		return e.parsed.tree, nil
	}
	tree, err := jsonvalue.DecodeJSON(e.Payload)
	if err != nil {
		return nil, err
	}
	e.parsed = parsed(e.Payload, tree)
	return tree, nil
}

var (
	namePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	envelopeKeys = []string{"type", "account", "key", "queue", "process_at", "expires_at", "window", "group", "payload"}
)

// IsName reports whether s can name an account or a queue: letters, digits
// and _ . - (not first), at most 64.
func IsName(s string) bool { return namePattern.MatchString(s) }

// maxGroup bounds a group's name.
const maxGroup = 128

var groupPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/@#+=-]{0,127}$`)

// IsGroup reports whether s can name a cancellation group: letters, digits
// and _ . : / @ # + = - (not first), at most 128, as in "contact:abc123".
// No braces (the name is a Redis hash tag), no space, nothing JSON escapes.
func IsGroup(s string) bool { return groupPattern.MatchString(s) }

// maxKey bounds an idempotency key.
const maxKey = 512

// ParseEnvelope reads one JSON envelope and validates it against the
// operations of reg. Its errors name the field and the reason:
// `payload.to[2].contact_id: not a UUID: "42"`.
func ParseEnvelope(data []byte, reg providers.Registry) (*Envelope, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	members, err := jsonvalue.DecodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	var (
		e    Envelope
		errs []error
		seen uint // a bit per envelopeKeys
	)
	for _, m := range members {
		var err error
		switch m.Name {
		case "type":
			err = decodeString(m.Value, &e.Type)
		case "account":
			err = decodeString(m.Value, &e.Account)
		case "key":
			err = decodeString(m.Value, &e.Key)
		case "queue":
			err = decodeString(m.Value, &e.Queue)
		case "process_at":
			err = decodeTime(m.Value, &e.ProcessAt)
		case "expires_at":
			err = decodeTime(m.Value, &e.ExpiresAt)
		case "window":
			if e.Window, err = ParseWindow(m.Value); err != nil {
				errs = append(errs, err) // its paths are window.tz, window.days, ...
				err = nil
			}
		case "group":
			err = decodeString(m.Value, &e.Group)
		case "payload":
			e.Payload = m.Raw
			e.parsed = parsed(m.Raw, m.Value)
		default:
			err = fmt.Errorf("unknown field (an envelope has %s)", strings.Join(envelopeKeys, ", "))
		}
		if k := slices.Index(envelopeKeys, m.Name); k >= 0 && err == nil {
			if seen&(1<<k) != 0 {
				err = errors.New("given more than once")
			}
			seen |= 1 << k
		}
		if err != nil {
			errs = append(errs, &jsonvalue.FieldError{Path: m.Name, Reason: err.Error()})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := e.Validate(reg); err != nil {
		return nil, err
	}
	return &e, nil
}

// decodeString sets dst to v, a string or null.
func decodeString(v any, dst *string) error {
	s, ok := v.(string)
	if !ok && v != nil {
		return errors.New("must be a string")
	}
	*dst = s
	return nil
}

func decodeTime(v any, dst *time.Time) error {
	var s string
	if decodeString(v, &s) != nil {
		return errors.New("must be an RFC 3339 time string")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("not an RFC 3339 time: %q", s)
	}
	*dst = t
	return nil
}

// Validate checks the envelope and its payload against the documented
// schema of its operation in reg, the registry of the program.
func (e *Envelope) Validate(reg providers.Registry) error {
	op := reg.Lookup(e.Type)
	if op == nil {
		if e.Type == "" {
			return &jsonvalue.FieldError{Path: "type", Reason: "required"}
		}
		return &jsonvalue.FieldError{Path: "type", Reason: fmt.Sprintf("unknown type %q (one of %s)", e.Type, strings.Join(reg.Types(), ", "))}
	}
	e.known.typ, e.known.queue = e.Type, op.DefaultQueue()
	var errs []error
	if e.Account != "" && !IsName(e.Account) {
		errs = append(errs, &jsonvalue.FieldError{Path: "account", Reason: fmt.Sprintf("not a name (letters, digits, _ . -; at most 64): %q", e.Account)})
	}
	if e.Queue != "" && !IsName(e.Queue) {
		errs = append(errs, &jsonvalue.FieldError{Path: "queue", Reason: fmt.Sprintf("not a name (letters, digits, _ . -; at most 64): %q", e.Queue)})
	}
	if err := e.Window.Check(); err != nil {
		errs = append(errs, err)
	}
	if e.Group != "" && !IsGroup(e.Group) {
		errs = append(errs, &jsonvalue.FieldError{Path: "group", Reason: fmt.Sprintf("not a group name (letters, digits, _ . - : / @ # + =; at most %d): %q", maxGroup, e.Group)})
	}
	if len(e.Key) > maxKey {
		errs = append(errs, &jsonvalue.FieldError{Path: "key", Reason: fmt.Sprintf("longer than %d bytes", maxKey)})
	}
	if !e.ExpiresAt.IsZero() && !e.ProcessAt.IsZero() && !e.ExpiresAt.After(e.ProcessAt) {
		errs = append(errs, &jsonvalue.FieldError{Path: "expires_at", Reason: "not after process_at"})
	}
	if len(bytes.TrimSpace(e.Payload)) == 0 {
		errs = append(errs, &jsonvalue.FieldError{Path: "payload", Reason: "required"})
	} else if tree, err := e.payload(); err != nil {
		errs = append(errs, &jsonvalue.FieldError{Path: "payload", Reason: "invalid JSON: " + err.Error()})
	} else if e.parsed.matches != e.Type {
		if err := jsonvalue.Check(op.Schema, "payload", tree); err != nil {
			errs = append(errs, err)
		} else {
			e.parsed.matches = e.Type
		}
	}
	return errors.Join(errs...)
}

func (e *Envelope) account() string {
	if e.Account == "" {
		return DefaultAccount
	}
	return e.Account
}

// Provider returns the provider of a task type: the part before the colon.
func Provider(typ string) string {
	p, _, _ := strings.Cut(typ, ":")
	return p
}

// QueueName returns the envelope's queue: Queue, or its type's default,
// which Validate found in the registry (an operation may name its own);
// the provider's name for an envelope not validated since its type was
// set.
func (e *Envelope) QueueName() string {
	if e.Queue != "" {
		return e.Queue
	}
	if e.known.typ == e.Type {
		return e.known.queue
	}
	return Provider(e.Type)
}

// Shard returns the asynq queue of the envelope's send in a queue of n
// shards: its account's shard of QueueName.
func (e *Envelope) Shard(n int) string { return ShardOf(e.QueueName(), e.account(), n) }

// taskIDSpace is the namespace of the task ids derived from keys.
var taskIDSpace = uuid.MustParse("6f1d3c1e-2b0a-4f6e-9a57-0c8e5b2d7a41")

// TaskID returns the task id derived from the envelope's key, or "" when it
// has none (asynq then makes one up).
func (e *Envelope) TaskID() string {
	if e.Key == "" {
		return ""
	}
	return uuid.NewSHA1(taskIDSpace, []byte(e.Type+"\x00"+e.account()+"\x00"+e.Key)).String()
}

// Options are the settings of the tasks Prepare and Send.Task make.
type Options struct {
	// MaxRetry is how many times a failed send is retried.
	MaxRetry int
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Windows are the windows of SEND_WINDOWS, by name, to check the names
	// of envelopes against; nil leaves names to the worker.
	Windows map[string]window.Spec
	// Providers are the operations envelopes are checked against and
	// prepared with: the producer's registry. A type none of them has is
	// refused.
	Providers providers.Registry
	// Shards is QUEUE_SHARDS: how many asynq queues each queue is split
	// into, by account (Shards); 0 is one.
	Shards int
}

// Send is an envelope made ready to enqueue.
type Send struct {
	// Type, ID and Queue are the task's; Queue is the asynq queue, the
	// account's shard of the envelope's queue.
	Type, ID, Queue string
	// Payload is what the task carries: the provider's body as its
	// operation prepared it (the time field out, a message id in), the due
	// time, and the claim on the key once the producer has made it.
	Payload Payload
	// Opening is the time the send's window gives it, when later than its
	// due time (or than now, for a send due now): the task is handed to a
	// worker then. Zero when it has no window or the window is open.
	Opening time.Time

	// windowLeft is true for a window left to the worker: its name is not
	// known here.
	windowLeft bool
}

// Prepare validates e and prepares its send with its operation's Prepare.
// Task then makes its asynq task; between the two a producer claims the
// key and books the rate-limit slots of many sends at once.
func Prepare(e *Envelope, o Options) (*Send, error) {
	if err := e.Validate(o.Providers); err != nil {
		return nil, err
	}
	op := o.Providers.Lookup(e.Type)
	tree, _ := e.payload() // Validate decoded it
	d := providers.Draft{Account: e.account(), Key: e.Key, Body: maps.Clone(tree.(map[string]any))}
	var due time.Time
	if op.Prepare != nil {
		var err error
		if due, err = op.Prepare(&d); err != nil {
			return nil, err
		}
	}
	// HTML characters are not escaped: the providers get the text as the
	// user wrote it.
	encoded, err := jsonvalue.AppendJSON(make([]byte, 0, len(e.Payload)+64), d.Body)
	if err != nil {
		return nil, err
	}
	if !e.ProcessAt.IsZero() {
		due = e.ProcessAt
	}
	now := o.now()
	if !e.ExpiresAt.IsZero() && !e.ExpiresAt.After(now) {
		return nil, &jsonvalue.FieldError{Path: "expires_at", Reason: "already passed"}
	}
	if !e.ExpiresAt.IsZero() && !due.IsZero() && !e.ExpiresAt.After(due) {
		return nil, &jsonvalue.FieldError{Path: "expires_at", Reason: "not after the due time " + due.Format(time.RFC3339)}
	}
	s := &Send{Type: e.Type, ID: e.TaskID(), Queue: e.Shard(o.Shards),
		Payload: Payload{Account: e.account(), Due: due.UTC(), ExpiresAt: e.ExpiresAt.UTC(), Window: e.Window, Group: e.Group, Body: encoded}}
	if s.ID == "" {
		s.ID = uuid.NewString()
	}
	if err := s.open(op, o, now); err != nil {
		return nil, err
	}
	return s, nil
}

// open finds the time the send's window gives it, checking the window's
// name and, for tz "auto", the recipients' numbers. A send whose window
// opens only after it expires is refused.
func (s *Send) open(op *providers.Operation, o Options, now time.Time) error {
	if s.Payload.Window.IsZero() {
		return nil
	}
	win, ok, err := Windows{Named: o.Windows}.Of(op, s.Payload)
	if err != nil || !ok {
		s.windowLeft = !ok
		return err
	}
	from := later(s.Payload.Due, now)
	at, ok := win.Next(from)
	switch {
	case !ok:
		return &jsonvalue.FieldError{Path: "window", Reason: "no time inside it within a week of " + from.Format(time.RFC3339)}
	case !s.Payload.ExpiresAt.IsZero() && !at.Before(s.Payload.ExpiresAt):
		return &jsonvalue.FieldError{Path: "expires_at", Reason: "not after the window's opening " + at.Format(time.RFC3339)}
	case at.After(from):
		s.Opening = at
	}
	return nil
}

// Task returns the send's asynq task, handed to asynq a little before at:
// its due time, or the rate-limit slot booked for it; its window's
// opening when later.
func (s *Send) Task(o Options, at time.Time) (*asynq.Task, error) {
	return Rebuild(s.Type, s.Payload, s.ID, s.Queue, o, later(at, s.Opening))
}

// Books reports whether a send prepared at now is booked its rate-limit
// slot when it is enqueued, for BookAt: a send due by then is, a later one
// is booked by the worker when it falls due, which books sends in the
// order of their due times and so gives each the earliest time the limit
// allows. A send held for its window's opening is booked when enqueued
// too, at the opening: its task then reaches a worker at its own slot.
// Left to the worker, the sends held for an opening would all reach it at
// the opening and book one script call at a time, the first of each
// account late by the time the others took. A window left to the worker is
// booked by the worker.
func (s *Send) Books(now time.Time) bool {
	return !s.windowLeft && (s.Payload.dueBy(now) || !s.Opening.IsZero())
}

// BookAt is the time a send that Books is booked for when it is enqueued
// at now: now, or its window's opening when later.
func (s *Send) BookAt(now time.Time) time.Time { return later(now, s.Opening) }

func (p Payload) dueBy(now time.Time) bool { return !p.Due.After(now) }

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Lead is how long before its exact time a task is handed to asynq, which
// keeps due and retry times in whole seconds, rounded down: the worker
// holds the task until that time.
const Lead = 500 * time.Millisecond

// Rebuild returns the asynq task of type typ with payload p, as Send.Task
// makes it: with id, queue and the options o, and handed to asynq a little
// before at (p.Due, or the rate-limit slot of a send due now) so that the
// worker can start it at the exact time.
func Rebuild(typ string, p Payload, id, queue string, o Options, at time.Time) (*asynq.Task, error) {
	if o.MaxRetry < 0 || o.MaxRetry > MaxRetryLimit {
		return nil, fmt.Errorf("max retry %d: want 0 to %d", o.MaxRetry, MaxRetryLimit)
	}
	opts := []asynq.Option{asynq.Queue(queue), asynq.MaxRetry(asynqadapter.WithRetryOffset(o.MaxRetry)), asynq.TaskID(id)}
	if o.Timeout > 0 {
		opts = append(opts, asynq.Timeout(o.Timeout))
	}
	if at = at.Add(-Lead); at.After(o.now()) {
		opts = append(opts, asynq.ProcessAt(at))
	}
	return asynq.NewTask(typ, p.encode(), opts...), nil
}
