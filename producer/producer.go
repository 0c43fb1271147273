// Package producer is the Go API an app embeds to schedule sends: it
// validates envelopes exactly as the enqueue CLI does (one implementation,
// in package tasks), enqueues them into Redis with their due time, and
// reports on them.
package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/punctualhq/punctual/internal/asynqadapter"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/credentials/accountindex"
	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/internal/redisurl"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/window"
)

// ErrNotFound is returned for a task id that no queue holds.
var ErrNotFound = errors.New("no such task")

// ErrAlreadyCancelled is returned by Cancel for a send cancelled before:
// it will not happen, as asked.
var ErrAlreadyCancelled = errors.New("already cancelled")

// Producer enqueues sends. It is safe for concurrent use.
type Producer struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	state     state.Store
	groups    state.Groups
	limiter   *ratelimit.Limiter
	// calendars is the Redis of the recipient-cap calendars, where a
	// cancel frees what the workers booked.
	calendars redis.UniversalClient
	opts      tasks.Options
	// retention is how long a cancelled send's record is kept.
	retention time.Duration
	// agencies are the accounts the workers list as agencies, which send
	// nothing.
	agencies *accountindex.Agencies
	// rdb is the client New opened, closed by Close.
	rdb redis.UniversalClient
}

// settings are what the options set.
type settings struct {
	tasks     tasks.Options
	retention time.Duration
	limits    ratelimit.Limits
	providers providers.Registry
}

// Option configures a Producer.
type Option func(*settings)

// WithMaxRetry sets how many times a failed send is retried. Default 25.
func WithMaxRetry(n int) Option { return func(s *settings) { s.tasks.MaxRetry = n } }

// WithRetention sets how long the record of a cancelled send is kept
// (RESULT_RETENTION), for its status and its group. Default 7 days. (A
// completed send's record is the worker's: its own RESULT_RETENTION.)
func WithRetention(d time.Duration) Option { return func(s *settings) { s.retention = d } }

// WithTimeout bounds one attempt of a send. Default 1 minute.
func WithTimeout(d time.Duration) Option { return func(s *settings) { s.tasks.Timeout = d } }

// WithRateLimits books each send's rate-limit slot when it is enqueued, so
// that it reaches a worker only when it may go. Give the workers' limits
// (RATE_LIMITS); without them, the worker books the slot when it first
// takes the send.
func WithRateLimits(limits ratelimit.Limits) Option { return func(s *settings) { s.limits = limits } }

// WithSendWindows gives the windows envelopes may name (the workers'
// SEND_WINDOWS): a name not among them is refused when enqueued, and a
// send whose named window is closed is handed to a worker at its opening.
// Without them names are checked by the worker, when the send falls due.
func WithSendWindows(named map[string]window.Spec) Option {
	return func(s *settings) { s.tasks.Windows = named }
}

// WithQueueShards splits each queue into n asynq queues by account
// (QUEUE_SHARDS; tasks.Shards), so that a Redis Cluster spreads one
// provider's sends over its masters. Give the workers' QUEUE_SHARDS.
// Default 1; a count outside 1 to tasks.MaxShards panics in New.
func WithQueueShards(n int) Option { return func(s *settings) { s.tasks.Shards = n } }

// Open returns a Producer on the Redis of url, as the worker's REDIS_URL
// names it: redis://[user:password@]host:port/db, or rediss:// for TLS;
// "" is REDIS_URL's default, redis://127.0.0.1:6379/0. Close it when done.
// Its error never repeats the URL, which may hold a password.
func Open(url string, opts ...Option) (*Producer, error) {
	if url == "" {
		url = config.DefaultRedisURL
	}
	conn, err := redisurl.Parse(url)
	if err != nil {
		return nil, fmt.Errorf("producer: Redis URL: %w", err)
	}
	return New(conn, opts...), nil
}

// WithProviders sets the providers whose task types the Producer takes:
// the built-in ones (builtin.Registry) by default. Give the workers' list.
// A list that fails its Check panics in New: a mistake to find at start-up.
func WithProviders(r providers.Registry) Option {
	return func(s *settings) { s.providers = r }
}

// Providers returns the providers whose task types the Producer takes,
// for a caller that parses envelopes itself (tasks.ParseEnvelope).
func (p *Producer) Providers() providers.Registry { return p.opts.Providers }

// New returns a Producer connected to Redis through conn. Close it when done.
func New(conn asynq.RedisConnOpt, opts ...Option) *Producer {
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	p := NewFromClient(rdb, opts...)
	p.rdb = rdb
	return p
}

// NewFromClient returns a Producer on an existing go-redis client, which
// stays the caller's to close.
func NewFromClient(c redis.UniversalClient, opts ...Option) *Producer {
	s := settings{tasks: tasks.Options{MaxRetry: 25, Timeout: time.Minute}, retention: 7 * 24 * time.Hour}
	for _, opt := range opts {
		opt(&s)
	}
	if s.providers == nil {
		s.providers = builtin.Registry()
	}
	if err := s.providers.Check(); err != nil {
		panic(err)
	}
	if n := s.tasks.Shards; n < 0 || n > tasks.MaxShards {
		panic(fmt.Sprintf("producer: WithQueueShards(%d): want 1 to %d", n, tasks.MaxShards))
	}
	// Envelopes are checked against the producer's registry.
	s.tasks.Providers = s.providers
	return &Producer{
		// Enqueues made at once stream on one connection.
		client:    asynq.NewClientFromRedisClient(asynqadapter.Pipelined(c)),
		inspector: asynq.NewInspectorFromRedisClient(c),
		state:     state.Store{Client: c},
		groups:    state.Groups{Client: c},
		limiter:   ratelimit.New(c, s.limits),
		calendars: c,
		opts:      s.tasks,
		retention: s.retention,
		agencies:  &accountindex.Agencies{Redis: c},
	}
}

// prepare checks an envelope and prepares its send, refusing one whose
// account the workers list as an agency: HighLevel takes messages with
// Sub-Account tokens only, and an agency account mints its locations'
// tokens. Where the workers have not listed the accounts, the worker
// refuses such a send instead.
func (p *Producer) prepare(ctx context.Context, e *tasks.Envelope) (*tasks.Send, error) {
	send, err := tasks.Prepare(e, p.opts)
	if err != nil {
		return nil, err
	}
	if provider, account := tasks.Provider(send.Type), send.Payload.Account; p.agencies.Is(ctx, provider, account) {
		return nil, &jsonvalue.FieldError{Path: "account", Reason: fmt.Sprintf("%s account %q is an agency (company_id): it mints its locations' tokens and does not send; name one of its locations", provider, account)}
	}
	return send, nil
}

// build makes the asynq task of e: it prepares the send, claims its key
// in every queue (with claim), adds it to its group, and books its
// rate-limit slot when it is due now or held for its window (tasks.Send.Books). undo frees a slot booked for a task that was then not enqueued (a
// duplicate). A key another queue holds gives *heldError.
func (p *Producer) build(ctx context.Context, e *tasks.Envelope, claim bool) (send *tasks.Send, task *asynq.Task, undo func(), err error) {
	undo = func() {}
	now := time.Now()
	send, err = p.prepare(ctx, e)
	if err != nil {
		return nil, nil, undo, err
	}
	switch {
	case claim && e.Key != "":
		err = p.claimKey(ctx, send)
	case e.Key != "":
		err = p.notMade(ctx, send)
	}
	if err != nil {
		return nil, nil, undo, err
	}
	if err := p.join(ctx, send); err != nil {
		return nil, nil, undo, err
	}
	at := send.Payload.Due
	if p.limiter != nil && send.Books(now) {
		provider, account := tasks.Provider(send.Type), send.Payload.Account
		slot, booked, err := p.limiter.Reserve(ctx, provider, account, send.ID, send.BookAt(now))
		if err != nil {
			return nil, nil, undo, err
		}
		if booked {
			undo = func() { _ = p.limiter.Release(ctx, provider, account, send.ID) }
		}
		at = slot
	}
	task, err = send.Task(p.opts, at)
	return send, task, undo, err
}

// opened records the time a send's window gave it, for its status, once
// its task is enqueued.
func (p *Producer) opened(ctx context.Context, id string, opening time.Time) error {
	if opening.IsZero() {
		return nil
	}
	if err := p.state.SetWindow(ctx, id, opening); err != nil {
		return fmt.Errorf("enqueued, but its window's opening is not recorded for its status: %w", err)
	}
	return nil
}

// heldError is returned for an envelope whose key another queue holds,
// or whose send was made (Done): the send exists there.
type heldError struct {
	ID, Queue string
	Done      *state.Completion
}

func (e *heldError) Error() string {
	if e.Done != nil {
		return fmt.Sprintf("the key's send %s was made, in queue %q", e.ID, tasks.QueueOf(e.Queue))
	}
	return fmt.Sprintf("the key's task %s is in queue %q", e.ID, tasks.QueueOf(e.Queue))
}

// claimKey makes the send's queue the holder of its key, and writes the
// claim into its payload; a key another queue holds gives *heldError.
func (p *Producer) claimKey(ctx context.Context, send *tasks.Send) error {
	c, err := p.claim(ctx, send.ID, send.Queue, send.Payload.Due)
	if err != nil {
		return err
	}
	if c.Queue != send.Queue || c.Done != nil {
		return &heldError{ID: send.ID, Queue: c.Queue, Done: c.Done}
	}
	send.Payload.Claim = c.Value
	return nil
}

// notMade gives *heldError for a send whose key's send was made: asynq
// deleted its task on completion, and only its record says the key is
// taken. (A key claimed is checked by its claim.)
func (p *Producer) notMade(ctx context.Context, send *tasks.Send) error {
	done, err := p.state.Completion(ctx, send.ID)
	if err != nil || done == nil {
		return err
	}
	return &heldError{ID: send.ID, Queue: done.Queue, Done: done}
}

// join adds a send to its group, if it has one, and writes the group's
// generation into its payload.
func (p *Producer) join(ctx context.Context, send *tasks.Send) error {
	if send.Payload.Group == "" {
		return nil
	}
	m := state.Member{ID: send.ID, Queue: send.Queue, Type: send.Type, Account: send.Payload.Account}
	gen, err := p.groups.Join(ctx, send.Payload.Group, m, send.Payload.Due, p.retention)
	if err != nil {
		return fmt.Errorf("group %s: %w", send.Payload.Group, err)
	}
	send.Payload.GroupGen = gen
	return nil
}

// claimGrace is how long a claim protects a key whose task is not in its
// queue yet: the producer that made it may still be enqueueing it.
const claimGrace = time.Minute

// claim makes queue the holder of a key, taking it over from a queue that
// no longer has the key's task (cancelled, or deleted by hand), and returns
// the claim in force.
func (p *Producer) claim(ctx context.Context, id, queue string, due time.Time) (state.Claim, error) {
	for range 3 {
		c, err := p.state.Claim(ctx, id, queue, due)
		if err != nil || c.Queue == queue || c.Done != nil || c.Age < claimGrace {
			return c, err
		}
		_, err = p.inspector.GetTaskInfo(c.Queue, id)
		if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			return c, err
		}
		if taken, ok, err := p.state.TakeOver(ctx, id, c, queue, due); ok || err != nil {
			return taken, err
		}
	}
	return state.Claim{}, fmt.Errorf("the key of task %s keeps changing queue; try again", id)
}

// Close closes the Redis connection New opened.
func (p *Producer) Close() error {
	if p.rdb == nil {
		return nil
	}
	return p.rdb.Close()
}

// Enqueued says what Enqueue did.
type Enqueued struct {
	// ID is the task id.
	ID string `json:"id"`
	// Queue is the queue it is in (its name, whichever shard holds it).
	Queue string `json:"queue"`
	// State is its state now: scheduled, pending, completed...
	State string `json:"state"`
	// Duplicate is true when a task with this id already existed; nothing
	// new was enqueued.
	Duplicate bool `json:"duplicate"`
	// ProcessAt is when it is due.
	ProcessAt time.Time `json:"process_at"`
}

// Enqueue validates e and enqueues its send. An envelope whose task id
// already exists, in any queue, is not an error: Enqueued.Duplicate says so.
// An envelope without a key is a new send each time: see EnqueueOnce.
func (p *Producer) Enqueue(ctx context.Context, e *tasks.Envelope) (*Enqueued, error) {
	return p.enqueueOne(ctx, e, true)
}

// EnqueueOnce enqueues e as Batch enqueues a line: an envelope without a
// key gets one derived from its content (Envelope.ContentKey), so the
// same envelope enqueued twice is one send, and the second time says
// Duplicate. e is left as it was.
func (p *Producer) EnqueueOnce(ctx context.Context, e *tasks.Envelope) (*Enqueued, error) {
	keyed := *e
	// Validated first, so that its key names the queue its operation in
	// the producer's registry gives it, as a parsed line's does.
	if err := keyed.Validate(p.opts.Providers); err != nil {
		return nil, err
	}
	claim, err := withContentKey(&keyed)
	if err != nil {
		return nil, err
	}
	return p.enqueueOne(ctx, &keyed, claim)
}

// withContentKey gives e a key derived from its content when it has none,
// and says whether its key needs a claim: a key given names no queue, and
// is claimed so that no other queue holds it too; a content key names its
// queue, so its task id is one queue's already.
func withContentKey(e *tasks.Envelope) (claim bool, err error) {
	if e.Key != "" {
		return true, nil
	}
	e.Key, err = e.ContentKey()
	return false, err
}

// enqueueOne is Enqueue, claiming e's key when claim is true.
func (p *Producer) enqueueOne(ctx context.Context, e *tasks.Envelope, claim bool) (*Enqueued, error) {
	send, task, undo, err := p.build(ctx, e, claim)
	id, queue := e.TaskID(), e.Shard(p.opts.Shards)
	var held *heldError
	switch {
	case errors.As(err, &held) && held.Done != nil:
		return &Enqueued{ID: id, Queue: tasks.QueueOf(held.Queue), State: string(StateCompleted), Duplicate: true, ProcessAt: held.Done.Due}, nil
	case errors.As(err, &held):
		queue = held.Queue
	case err != nil:
		return nil, err
	default:
		info, err := p.client.EnqueueContext(ctx, task)
		if err == nil {
			res := &Enqueued{ID: info.ID, Queue: tasks.QueueOf(info.Queue), State: info.State.String(), ProcessAt: dueOf(info)}
			if err := p.opened(ctx, info.ID, send.Opening); err != nil {
				return res, err
			}
			if e.Group != "" {
				if cancelled, err := p.settle(ctx, info.ID, task); err != nil {
					return nil, err
				} else if cancelled {
					res.State = "cancelled"
				}
			}
			return res, nil
		}
		undo()
		if !errors.Is(err, asynq.ErrTaskIDConflict) {
			if lerr := p.leaveUnlessMember(context.WithoutCancel(ctx), send); lerr != nil {
				return nil, fmt.Errorf("enqueue: %w; %w", err, lerr)
			}
			return nil, fmt.Errorf("enqueue: %w", err)
		}
	}
	if send != nil && held == nil {
		if err := p.leaveUnlessMember(ctx, send); err != nil {
			return nil, err
		}
	}
	existing, ierr := p.inspector.GetTaskInfo(queue, id)
	if ierr != nil {
		return &Enqueued{ID: id, Queue: tasks.QueueOf(queue), State: "unknown", Duplicate: true}, nil
	}
	return &Enqueued{ID: existing.ID, Queue: tasks.QueueOf(existing.Queue), State: existing.State.String(), Duplicate: true, ProcessAt: dueOf(existing)}, nil
}

// leaveUnlessMember undoes the join of a send that was not enqueued (a
// duplicate, or an enqueue that failed): a task of its id, now or later,
// is in the group only if it joined it itself, and a cancel of the group
// must not reach it otherwise.
func (p *Producer) leaveUnlessMember(ctx context.Context, send *tasks.Send) error {
	group := send.Payload.Group
	if group == "" {
		return nil
	}
	if info, err := p.inspector.GetTaskInfo(send.Queue, send.ID); err == nil {
		if existing, err := tasks.DecodePayload(info.Payload); err == nil && existing.Group == group {
			return nil
		}
	}
	if err := p.groups.Drop(ctx, group, send.ID); err != nil {
		return fmt.Errorf("a duplicate of %s: its group %s is left listing it: %w", send.ID, group, err)
	}
	return nil
}

// dueOf returns the exact due time of a task: asynq's own is whole seconds
// and a little early.
func dueOf(info *asynq.TaskInfo) time.Time {
	if p, err := tasks.DecodePayload(info.Payload); err == nil && !p.Due.IsZero() {
		return p.Due
	}
	return info.NextProcessAt
}

// enqueue puts a task into Redis; dup is true when its id already existed.
func (p *Producer) enqueue(ctx context.Context, task *asynq.Task, undo func()) (dup bool, err error) {
	_, err = p.client.EnqueueContext(ctx, task)
	if err != nil {
		undo()
	}
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return true, nil
	}
	return false, err
}

// EnqueueJSON parses one JSON envelope and enqueues it.
func (p *Producer) EnqueueJSON(ctx context.Context, data []byte) (*Enqueued, error) {
	e, err := tasks.ParseEnvelope(data, p.opts.Providers)
	if err != nil {
		return nil, err
	}
	return p.Enqueue(ctx, e)
}

// Status is what is known of a task.
type Status struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Queue is the task's queue, by its name: whichever shard holds it.
	Queue string `json:"queue"`
	// State is asynq's state of the task, or cancelled. A send that waits
	// (Wait set) is in state retry without having failed.
	State   State  `json:"state"`
	Account string `json:"account"`
	// Due is when the send may start; zero for "at once".
	Due time.Time `json:"due,omitzero"`
	// ExpiresAt is when it is given up.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Window is the window the envelope named, a name or tz days from-to;
	// empty when it named none.
	Window string `json:"window,omitempty"`
	// WindowAt is the time the send's window (its own or its account's)
	// gave it, later than Due; zero when the window has not moved it.
	WindowAt time.Time `json:"window_at,omitzero"`
	// Retried and MaxRetry count the attempts that failed and those allowed.
	Retried  int `json:"retried"`
	MaxRetry int `json:"max_retry"`
	// LastError is the error of the last failed attempt.
	LastError    string    `json:"last_error,omitempty"`
	LastFailedAt time.Time `json:"last_failed_at,omitzero"`
	// NextProcessAt is when it may next go, for scheduled and retry tasks:
	// for a scheduled one, to the millisecond, though asynq hands it to a
	// worker up to a second before.
	NextProcessAt time.Time `json:"next_process_at,omitzero"`
	CompletedAt   time.Time `json:"completed_at,omitzero"`
	// Result is the provider's answer, once completed.
	Result *tasks.Result `json:"result,omitempty"`
	// Group is the send's cancellation group.
	Group string `json:"group,omitempty"`
	// CancelledAt is when it was cancelled, for a cancelled send.
	CancelledAt time.Time `json:"cancelled_at,omitzero"`
	// Wait is what a task in state retry waits for when it waits rather
	// than failed (its window, a cap, a rate limit...); nil otherwise.
	Wait *Wait `json:"wait,omitempty"`
}

// Wait is what a send waits for: a wait spends no attempt and never
// archives the send. asynq keeps such a send in state retry, with the
// wait's words (tasks.WaitWords) at the end of its last error.
type Wait struct {
	// Reason is what it waits for: not_due, window, recipient_cap,
	// rate_limit, provider_hold, credentials, no_account, capacity, redis,
	// or stopping (its worker stopped before its request).
	Reason string `json:"reason"`
	// Until is when it may go: exact for the waits the worker holds to the
	// microsecond, where asynq's NextProcessAt is whole seconds and early.
	Until time.Time `json:"until,omitzero"`
}

// waitOf tells what a send in asynq's retry state waits for, from the words
// the worker ended its last error with; nil for a failed try. A held wait's
// end is exact, where asynq's NextProcessAt is whole seconds and early; any
// other goes back at NextProcessAt, rounded up to the second.
func waitOf(info *asynq.TaskInfo) *Wait {
	if info.State != asynq.TaskStateRetry {
		return nil
	}
	reason, until, ok := tasks.ParseWait(info.LastErr)
	if !ok {
		return nil
	}
	if info.NextProcessAt.After(until) {
		until = info.NextProcessAt
	}
	return &Wait{Reason: reason, Until: until}
}

// Status looks the task id up in every queue, and among the sends
// cancelled within the retention period.
func (p *Producer) Status(ctx context.Context, id string) (*Status, error) {
	info, err := p.find(ctx, id)
	if made := (*madeError)(nil); errors.As(err, &made) {
		return completedStatus(id, made.Done), nil
	}
	if errors.Is(err, ErrNotFound) {
		var c *state.Cancellation
		if c, err = p.findCancelled(ctx, id); c != nil {
			return cancelledStatus(c), nil
		}
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrNotFound, id)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	s := statusOf(info)
	if s.WindowAt, err = p.state.WindowAt(ctx, id); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	if s.State == StateScheduled {
		s.NextProcessAt = latest(s.NextProcessAt, s.WindowAt)
	}
	return s, nil
}

// latest is the latest of ts.
func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}

// completedStatus is the status of a send made, from its record.
func completedStatus(id string, c *state.Completion) *Status {
	s := &Status{ID: id, Type: c.Type, Queue: c.Queue, State: StateCompleted, Account: c.Account, Group: c.Group, Due: c.Due, ExpiresAt: c.ExpiresAt,
		Window: c.Window, WindowAt: c.WindowAt, Retried: c.Retried, MaxRetry: c.MaxRetry, CompletedAt: c.At}
	if c.Result.Provider != "" {
		s.Result = &c.Result
	}
	return s
}

func statusOf(info *asynq.TaskInfo) *Status {
	s := &Status{
		ID: info.ID, Type: info.Type, Queue: tasks.QueueOf(info.Queue), State: State(info.State.String()),
		Retried: info.Retried, MaxRetry: tasks.MaxRetry(info.MaxRetry), LastError: info.LastErr,
		LastFailedAt: info.LastFailedAt, NextProcessAt: info.NextProcessAt, CompletedAt: info.CompletedAt,
		Wait: waitOf(info),
	}
	if p, err := tasks.DecodePayload(info.Payload); err == nil {
		s.Account, s.Due, s.ExpiresAt, s.Window, s.Group = p.Account, p.Due, p.ExpiresAt, p.Window.String(), p.Group
	}
	if s.State == StateScheduled {
		// asynq hands a send over a little before its time, in whole
		// seconds; the worker holds it to the exact time.
		s.NextProcessAt = latest(s.NextProcessAt, s.Due)
	}
	if len(info.Result) > 0 {
		if r, err := tasks.DecodeResult(info.Result); err == nil {
			s.Result = &r
		}
	}
	return s
}
