package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
)

// ErrTooLate is returned for a change to a task whose send has started or ended.
var ErrTooLate = errors.New("too late")

// States lists the task states List knows, in their order: those of the
// tasks asynq holds, then the sends cancelled before they started.
var States = []string{"scheduled", "pending", "active", "retry", "archived", "completed", "cancelled"}

// listed are the states List shows when given none: the sends that have
// not ended, and those that failed.
var listed = States[:5]

// find returns the task with id, from whichever queue holds it.
func (p *Producer) find(id string) (*asynq.TaskInfo, error) {
	queues, err := p.inspector.Queues()
	if err != nil {
		return nil, err
	}
	for _, q := range queues {
		info, err := p.inspector.GetTaskInfo(q, id)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		return info, err
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
}

// Cancel makes a send that has not started not happen: a scheduled,
// pending or retrying task is deleted, and one a worker is holding for its
// time is dropped before its request. Its key is then free: an envelope
// with the same key enqueued later is a new send. A send that has started
// or ended gives ErrTooLate.
func (p *Producer) Cancel(ctx context.Context, id string) error {
	for range 3 {
		info, err := p.find(id)
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
	c := state.Cancellation{ID: info.ID, Type: info.Type, Queue: info.Queue, Account: payload.Account, Group: payload.Group, At: time.Now()}
	if err := p.groups.Record(ctx, c, p.opts.Retention); err != nil {
		return fmt.Errorf("cancelled, but not recorded as cancelled (%w)", err)
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
	_ = ratelimit.ReleaseCaps(ctx, p.calendars, capBookings(nil, info.Type, info.ID, payload))
}

// capBookings appends to bs the cap places the send id of type typ may
// hold, read from its payload; none for an operation without recipients.
func capBookings(bs []ratelimit.CapBooking, typ, id string, payload tasks.Payload) []ratelimit.CapBooking {
	op := providers.Lookup(typ)
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
	info, err := p.find(id)
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
			return nil, fmt.Errorf("reschedule: the key was taken over by queue %q", c.Queue)
		}
		payload.Claim = c.Value
	}
	if payload.Group != "" {
		// The group is kept as long as its latest send.
		m := state.Member{ID: id, Queue: info.Queue, Type: info.Type, Account: payload.Account}
		if _, err := p.groups.Join(ctx, payload.Group, m, payload.Due, p.opts.Retention); err != nil {
			return nil, fmt.Errorf("reschedule: group %s: %w", payload.Group, err)
		}
	}
	if err := p.inspector.DeleteTask(info.Queue, id); err != nil {
		return nil, fmt.Errorf("reschedule: %w", err)
	}
	p.release(ctx, info, payload)
	opts := tasks.Options{MaxRetry: tasks.MaxRetry(info.MaxRetry), Retention: info.Retention, Timeout: info.Timeout}
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
	return &Enqueued{ID: enq.ID, Queue: enq.Queue, State: enq.State.String(), ProcessAt: at}, nil
}

// List returns up to limit tasks in state (every state but completed and
// cancelled when empty) of queue (every queue when empty).
func (p *Producer) List(ctx context.Context, state, queue string, limit int) ([]*Status, error) {
	states := []string{state}
	if state == "" {
		states = listed
	} else if !slices.Contains(States, state) {
		return nil, fmt.Errorf("unknown state %q (one of %v)", state, States)
	}
	queues := []string{queue}
	if queue == "" {
		var err error
		if queues, err = p.inspector.Queues(); err != nil {
			return nil, err
		}
	}
	var out []*Status
	for _, q := range queues {
		for _, s := range states {
			if len(out) >= limit {
				return out, nil
			}
			if s == "cancelled" {
				cs, err := p.groups.List(ctx, q, limit-len(out))
				if err != nil {
					return nil, err
				}
				for i := range cs {
					out = append(out, cancelledStatus(&cs[i]))
				}
				continue
			}
			infos, err := p.list(s, q, limit-len(out))
			if errors.Is(err, asynq.ErrQueueNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, info := range infos {
				out = append(out, statusOf(info))
			}
		}
	}
	return out, ctx.Err()
}

func (p *Producer) list(state, queue string, n int) ([]*asynq.TaskInfo, error) {
	list := map[string]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		"scheduled": p.inspector.ListScheduledTasks,
		"pending":   p.inspector.ListPendingTasks,
		"active":    p.inspector.ListActiveTasks,
		"retry":     p.inspector.ListRetryTasks,
		"archived":  p.inspector.ListArchivedTasks,
		"completed": p.inspector.ListCompletedTasks,
	}[state]
	return list(queue, asynq.PageSize(n))
}

// Retry sends an archived task (or one waiting for its retry) again now.
func (p *Producer) Retry(_ context.Context, id string) error {
	info, err := p.find(id)
	if err != nil {
		return err
	}
	if info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateRetry {
		return fmt.Errorf("the task is %s: only archived and retry tasks are retried", info.State)
	}
	return p.inspector.RunTask(info.Queue, id)
}

// RetryAllArchived sends every archived task of every queue again now and
// returns how many.
func (p *Producer) RetryAllArchived(_ context.Context) (int, error) {
	queues, err := p.inspector.Queues()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, q := range queues {
		n, err := p.inspector.RunAllArchivedTasks(q)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
