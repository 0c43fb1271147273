package producer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
)

// ErrTooLate is returned for a change to a task whose send has started or ended.
var ErrTooLate = errors.New("too late")

// State is a task's state, as Status.State and ListOptions.State spell it.
type State string

// The states of a task: those asynq holds, then a send cancelled before
// it started.
const (
	StateScheduled State = "scheduled"
	StatePending   State = "pending"
	StateActive    State = "active"
	StateRetry     State = "retry"
	StateArchived  State = "archived"
	StateCompleted State = "completed"
	StateCancelled State = "cancelled"
)

// States lists the task states List knows, in their order.
var States = []State{StateScheduled, StatePending, StateActive, StateRetry, StateArchived, StateCompleted, StateCancelled}

// listed are the states List shows when given none: the sends that have
// not ended, and those that failed.
var listed = States[:5]

// ParseState returns the State s names, or an error listing the states.
func ParseState(s string) (State, error) {
	if st := State(s); slices.Contains(States, st) {
		return st, nil
	}
	names := make([]string, len(States))
	for i, st := range States {
		names[i] = string(st)
	}
	return "", fmt.Errorf("unknown state %q: one of %s", s, strings.Join(names, ", "))
}

// madeError is find's error for a send that was made: asynq deleted its
// task on completion, and its record (state.Completion) is what is kept.
type madeError struct {
	Done *state.Completion
}

func (e *madeError) Error() string { return ErrTooLate.Error() + ": the task is completed" }

func (e *madeError) Unwrap() error { return ErrTooLate }

// find returns the task with id, from whichever queue holds it, or
// *madeError when its send was made: whatever asynq holds of the id then
// (a task asynq kept, an archived one whose record went with asynq's
// archive, a copy enqueued as the send completed) is the send made, or a
// duplicate of it that a worker drops. The inspector takes no context:
// ctx is checked before each queue.
func (p *Producer) find(ctx context.Context, id string) (*asynq.TaskInfo, error) {
	if err := p.wasMade(ctx, id); err != nil {
		return nil, err
	}
	queues, err := p.inspector.Queues()
	if err != nil {
		return nil, err
	}
	for _, q := range queues {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		info, err := p.inspector.GetTaskInfo(q, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
			continue
		case err == nil && info.State == asynq.TaskStateCompleted:
			// Completed since the record was looked for: asynq kept it
			// (enqueued with a retention), and the record came with it.
			if err := p.wasMade(ctx, id); err != nil {
				return nil, err
			}
		}
		return info, err
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
}

// wasMade returns *madeError when the send of id was made.
func (p *Producer) wasMade(ctx context.Context, id string) error {
	done, err := p.state.Completion(ctx, id)
	switch {
	case err != nil:
		return err
	case done != nil:
		return &madeError{Done: done}
	}
	return nil
}

// Cancel makes a send that has not started not happen: a scheduled,
// pending or retrying task is deleted, and one a worker is holding for its
// time is dropped before its request. Its key is then free: an envelope
// with the same key enqueued later is a new send. A send that has started
// or ended gives ErrTooLate; one cancelled before, ErrAlreadyCancelled.
func (p *Producer) Cancel(ctx context.Context, id string) error {
	for range 3 {
		info, err := p.find(ctx, id)
		if errors.Is(err, ErrNotFound) {
			if c, cerr := p.findCancelled(ctx, id); cerr != nil {
				return cerr
			} else if c != nil {
				return fmt.Errorf("%w: %s, at %s", ErrAlreadyCancelled, id, c.At.UTC().Format(time.RFC3339))
			}
		}
		if err != nil {
			return err
		}
		switch info.State {
		case asynq.TaskStateScheduled, asynq.TaskStatePending, asynq.TaskStateRetry:
			if err := p.inspector.DeleteTask(info.Queue, id); err == nil {
				return p.cancelled(ctx, info)
			}
			// It moved on meanwhile: look again.
		case asynq.TaskStateActive:
			if err := p.state.Cancel(ctx, id); err != nil {
				return err
			}
			if err := p.waitGone(ctx, info.Queue, id); err != nil {
				// Withdrawn even when ctx has ended: a mark left behind would
				// drop the send's next try.
				clearCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				if cerr := p.state.ClearCancel(clearCtx, id); cerr != nil {
					return fmt.Errorf("%w; and the cancel could not be withdrawn (%v): the send may still be dropped before its next try", err, cerr)
				}
				return err
			}
			return p.cancelled(ctx, info)
		default:
			return fmt.Errorf("%w: the task is %s", ErrTooLate, info.State)
		}
	}
	return errors.New("cancel: the task keeps changing state; try again")
}

// cancelled frees the bookings and the key of a cancelled task, and
// records it cancelled.
func (p *Producer) cancelled(ctx context.Context, info *asynq.TaskInfo) error {
	payload, _ := tasks.DecodePayload(info.Payload)
	p.release(ctx, info, payload)
	c := state.Cancellation{ID: info.ID, Type: info.Type, Queue: info.Queue, Account: payload.Account, Group: payload.Group, At: time.Now(), Due: payload.Due}
	if err := p.groups.Record(ctx, c, p.retention); err != nil {
		return fmt.Errorf("cancelled, but not recorded as cancelled (%w)", err)
	}
	// Its key is free: a send enqueued later with it is not of this group.
	if payload.Group != "" {
		if err := p.groups.Drop(ctx, payload.Group, info.ID); err != nil {
			return fmt.Errorf("cancelled, but still listed in its group %s (%w): try the cancel again", payload.Group, err)
		}
	}
	if err := p.state.Forget(ctx, info.ID, payload.Claim); err != nil {
		return fmt.Errorf("cancelled, but its key is not free yet (%w): try the cancel again", err)
	}
	return nil
}

// release frees the bookings of a task taken out, whose payload is
// payload: its rate-limit slot and its places on its recipients' caps.
func (p *Producer) release(ctx context.Context, info *asynq.TaskInfo, payload tasks.Payload) {
	if p.limiter != nil && payload.Account != "" {
		_ = p.limiter.Release(ctx, tasks.Provider(info.Type), payload.Account, info.ID)
	}
	_ = ratelimit.ReleaseCaps(ctx, p.calendars, p.capBookings(nil, info.Type, info.ID, payload))
}

// capBookings appends to bs the cap places the send id of type typ may
// hold, read from its payload by its operation in the producer's
// registry; none for an operation without recipients.
func (p *Producer) capBookings(bs []ratelimit.CapBooking, typ, id string, payload tasks.Payload) []ratelimit.CapBooking {
	op := p.opts.Providers.Lookup(typ)
	if op == nil || op.Recipients == nil {
		return bs
	}
	return append(bs, ratelimit.CapBooking{Provider: tasks.Provider(typ), Account: payload.Account, TaskID: id, Recipients: op.Recipients(payload.Body)})
}

// waitGone waits for the worker holding a cancelled task to drop it. A task
// that completes or is archived instead had started its send; one that
// failed and waits for a retry is deleted.
func (p *Producer) waitGone(ctx context.Context, queue, id string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		info, err := p.inspector.GetTaskInfo(queue, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound):
			// Dropped for the cancel, or completed: asynq deletes a
			// completed task, and its record says so.
			if done, err := p.state.Completion(ctx, id); err != nil || done != nil {
				return cmp.Or(err, fmt.Errorf("%w: the send was made", ErrTooLate))
			}
			return nil
		case err != nil:
			return err
		case info.State == asynq.TaskStateRetry, info.State == asynq.TaskStatePending, info.State == asynq.TaskStateScheduled:
			// It failed, or its worker stopped and put it back, unsent.
			return p.inspector.DeleteTask(queue, id)
		case info.State != asynq.TaskStateActive:
			return fmt.Errorf("%w: the send had started; the task is %s", ErrTooLate, info.State)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%w: the send had started and is still running", ErrTooLate)
		case <-tick.C:
		}
	}
}

// Reschedule moves a send that has not started to at. The task keeps its id.
func (p *Producer) Reschedule(ctx context.Context, id string, at time.Time) (*Enqueued, error) {
	info, err := p.find(ctx, id)
	if err != nil {
		return nil, err
	}
	switch info.State {
	case asynq.TaskStateScheduled, asynq.TaskStatePending, asynq.TaskStateRetry:
	default:
		return nil, fmt.Errorf("%w: the task is %s", ErrTooLate, info.State)
	}
	payload, err := tasks.DecodePayload(info.Payload)
	if err != nil {
		return nil, fmt.Errorf("reschedule: %w", err)
	}
	if !payload.ExpiresAt.IsZero() && !payload.ExpiresAt.After(at) {
		return nil, fmt.Errorf("reschedule: the send expires at %s", payload.ExpiresAt.Format(time.RFC3339))
	}
	payload.Due = at.UTC()
	if payload.Claim != "" {
		// Claimed afresh before the task is taken out, so that no enqueue
		// into another queue takes the key over meanwhile; its lifetime
		// follows the new time.
		c, err := p.state.Renew(ctx, id, info.Queue, payload.Due)
		if err != nil {
			return nil, fmt.Errorf("reschedule: %w", err)
		}
		if c.Queue != info.Queue {
			return nil, fmt.Errorf("reschedule: the key was taken over by queue %q", tasks.QueueOf(c.Queue))
		}
		payload.Claim = c.Value
	}
	if payload.Group != "" {
		// The group is kept as long as its latest send.
		m := state.Member{ID: id, Queue: info.Queue, Type: info.Type, Account: payload.Account}
		if _, err := p.groups.Join(ctx, payload.Group, m, payload.Due, p.retention); err != nil {
			return nil, fmt.Errorf("reschedule: group %s: %w", payload.Group, err)
		}
	}
	if err := p.inspector.DeleteTask(info.Queue, id); err != nil {
		return nil, fmt.Errorf("reschedule: %w", err)
	}
	if err := p.state.ForgetWindow(ctx, id); err != nil {
		return nil, fmt.Errorf("reschedule: %w", err)
	}
	p.release(ctx, info, payload)
	opts := tasks.Options{MaxRetry: tasks.MaxRetry(info.MaxRetry), Timeout: info.Timeout}
	slot := payload.Due
	if now := time.Now(); p.limiter != nil && !payload.Due.After(now) {
		slot, _, err = p.limiter.Reserve(ctx, tasks.Provider(info.Type), payload.Account, id, now)
	}
	var task *asynq.Task
	if err == nil {
		task, err = tasks.Rebuild(info.Type, payload, id, info.Queue, opts, slot)
	}
	if err != nil {
		return nil, fmt.Errorf("reschedule: the task was taken out but not put back (%w); enqueue it again", err)
	}
	enq, err := p.client.EnqueueContext(ctx, task)
	if err != nil {
		return nil, fmt.Errorf("reschedule: the task was taken out but not put back (%w); enqueue it again", err)
	}
	return &Enqueued{ID: enq.ID, Queue: tasks.QueueOf(enq.Queue), State: enq.State.String(), ProcessAt: at}, nil
}

// DefaultListLimit is how many tasks List returns when ListOptions.Limit
// is zero.
const DefaultListLimit = 100

// ListOptions say which tasks List returns.
type ListOptions struct {
	// State is the state of the tasks; empty: every state but completed
	// and cancelled.
	State State
	// Queue is the queue of the tasks, all its shards; empty: every queue.
	Queue string
	// Limit is the most tasks returned; zero: DefaultListLimit.
	Limit int
}

// List returns the tasks o selects, queue by queue and state by state in
// the order of States. Completed sends are found by a scan of the keys
// (state.Store.Completed): on a Redis that holds many, listing them takes
// time.
func (p *Producer) List(ctx context.Context, o ListOptions) ([]*Status, error) {
	limit := o.Limit
	switch {
	case limit == 0:
		limit = DefaultListLimit
	case limit < 0:
		return nil, fmt.Errorf("list: Limit must not be negative, got %d", limit)
	}
	states := []State{o.State}
	if o.State == "" {
		states = listed
	} else if _, err := ParseState(string(o.State)); err != nil {
		return nil, fmt.Errorf("list: State: %w", err)
	}
	queues, err := p.shardsOf(o.Queue)
	if err != nil {
		return nil, err
	}
	var out []*Status
	// A key cancelled in two queues (or shards) is one send: its latest
	// cancel, where it is first listed.
	cancelledAt := map[string]int{}
	for _, q := range queues {
		for _, s := range states {
			if len(out) >= limit {
				return out, nil
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if s == StateCancelled {
				cs, err := p.groups.List(ctx, q, limit-len(out))
				if err != nil {
					return nil, err
				}
				for i := range cs {
					at, seen := cancelledAt[cs[i].ID]
					switch {
					case !seen:
						cancelledAt[cs[i].ID] = len(out)
						out = append(out, cancelledStatus(&cs[i]))
					case cs[i].At.After(out[at].CancelledAt):
						out[at] = cancelledStatus(&cs[i])
					}
				}
				continue
			}
			infos, err := p.list(s, q, limit-len(out))
			if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
				return nil, err
			}
			for _, info := range infos {
				out = append(out, statusOf(info))
			}
		}
	}
	if o.State == StateCompleted {
		return p.listMade(ctx, o.Queue, out, limit)
	}
	return out, ctx.Err()
}

// listMade adds to out, up to limit, the sends made in queue (any when
// empty) that asynq keeps no task of: asynq deletes a completed task, and
// only one enqueued with a retention before punctual kept its own record
// is listed from asynq.
func (p *Producer) listMade(ctx context.Context, queue string, out []*Status, limit int) ([]*Status, error) {
	if len(out) >= limit {
		return out, nil
	}
	listed := map[string]bool{}
	for _, s := range out {
		listed[s.ID] = true
	}
	made, err := p.state.Completed(ctx, queue, limit-len(out)+len(listed))
	if err != nil {
		return nil, err
	}
	for _, m := range made {
		if !listed[m.ID] && len(out) < limit {
			out = append(out, completedStatus(m.ID, &m.Completion))
		}
	}
	return out, nil
}

// shardsOf returns the asynq queues of queue, all its shards, or every
// asynq queue when queue is empty. A queue of one shard, or a name asynq
// has never had a task in, is its own name: listing it finds nothing.
func (p *Producer) shardsOf(queue string) ([]string, error) {
	all, err := p.inspector.Queues()
	if err != nil || queue == "" {
		return all, err
	}
	shards := []string{queue}
	for _, q := range all {
		if q != queue && tasks.QueueOf(q) == queue {
			shards = append(shards, q)
		}
	}
	return shards, nil
}

func (p *Producer) list(state State, queue string, n int) ([]*asynq.TaskInfo, error) {
	list := map[State]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		StateScheduled: p.inspector.ListScheduledTasks,
		StatePending:   p.inspector.ListPendingTasks,
		StateActive:    p.inspector.ListActiveTasks,
		StateRetry:     p.inspector.ListRetryTasks,
		StateArchived:  p.inspector.ListArchivedTasks,
		StateCompleted: p.inspector.ListCompletedTasks,
	}[state]
	return list(queue, asynq.PageSize(n))
}

// Retry sends an archived task (or one waiting for its retry) again now.
// The inspector takes no context: ctx is checked before each step.
func (p *Producer) Retry(ctx context.Context, id string) error {
	info, err := p.find(ctx, id)
	if err != nil {
		return err
	}
	if info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateRetry {
		return fmt.Errorf("the task is %s: only archived and retry tasks are retried", info.State)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return p.inspector.RunTask(info.Queue, id)
}

// RetryAllArchived sends every archived task of every queue again now and
// returns how many. ctx is checked before each queue: one ended midway
// leaves the later queues as they were.
func (p *Producer) RetryAllArchived(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	queues, err := p.inspector.Queues()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, q := range queues {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := p.inspector.RunAllArchivedTasks(q)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
