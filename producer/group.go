package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
)

// GroupCancel counts what CancelGroup did with the sends of a group.
type GroupCancel struct {
	// Cancelled counts the sends that will not happen: scheduled, pending,
	// waiting for a retry or held by a worker for their time.
	Cancelled int `json:"cancelled"`
	// Started counts the sends that had started: sent, being sent, or
	// ended archived.
	Started int `json:"started"`
	// Gone counts the sends of the group that no queue held any more:
	// cancelled before, or ended and past their retention. (A send made
	// and within its retention counts as started.)
	Gone int `json:"gone"`
}

// startedWait bounds how long CancelGroup waits for the workers holding
// sends of the group: a held send is dropped within seconds, so one still
// held after this is being sent.
const startedWait = 30 * time.Second

// CancelGroup cancels every send of group that has not started, and
// reports how many it cancelled and how many had started. Once it returns,
// no send of the group starts: a send enqueued into the group while it
// runs is either cancelled with it or joined the group after it began
// (and is then not cancelled). Sends that join the group later are not
// cancelled. The group's sends are cancelled a batch at a time, one round
// trip per queue, and each is recorded cancelled for the retention
// period; their keys are free.
func (p *Producer) CancelGroup(ctx context.Context, group string) (GroupCancel, error) {
	var res GroupCancel
	if !tasks.IsGroup(group) {
		return res, fmt.Errorf("group: not a group name (letters, digits, _ . - : / @ # + =; at most 128): %q", group)
	}
	at := time.Now()
	members, err := p.groups.Begin(ctx, group, p.retention)
	if err != nil {
		return res, fmt.Errorf("cancel group %s: %w", group, err)
	}
	byQueue := map[string][]state.Member{}
	for _, m := range members {
		byQueue[m.Queue] = append(byQueue[m.Queue], m)
	}
	deadline := time.NewTimer(startedWait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for first := true; len(byQueue) > 0; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-deadline.C:
				for _, held := range byQueue {
					res.Started += len(held) // still active: being sent
				}
				return res, nil
			case <-tick.C:
			}
		}
		for queue, ms := range byQueue {
			active, err := p.cancelQueued(ctx, group, queue, ms, at, &res)
			if err != nil {
				return res, fmt.Errorf("cancel group %s: %w", group, err)
			}
			if len(active) == 0 {
				delete(byQueue, queue)
			} else {
				byQueue[queue] = active
			}
		}
	}
	return res, nil
}

// madeAmong reports, for each of ms, whether it is a send made: asynq deleted
// its task on completion, and a cancel finds it gone.
func (p *Producer) madeAmong(ctx context.Context, ms []state.Member, outcomes []state.Outcome) ([]bool, error) {
	var gone []string
	for i, o := range outcomes {
		if o.State == "gone" {
			gone = append(gone, ms[i].ID)
		}
	}
	made := make([]bool, len(ms))
	if len(gone) == 0 {
		return made, nil
	}
	found, err := p.state.AreMade(ctx, gone)
	if err != nil {
		return nil, err
	}
	for i, o := range outcomes {
		if o.State == "gone" {
			made[i], found = found[0], found[1:]
		}
	}
	return made, nil
}

// cancelQueued cancels the sends ms of queue and counts them in res, and
// returns those a worker holds: a worker drops them before their request,
// and they are looked at again until they are gone.
func (p *Producer) cancelQueued(ctx context.Context, group, queue string, ms []state.Member, at time.Time, res *GroupCancel) (active []state.Member, err error) {
	cs := make([]state.Cancellation, len(ms))
	for i, m := range ms {
		cs[i] = state.Cancellation{ID: m.ID, Type: m.Type, Queue: queue, Account: m.Account, Group: group, At: at}
	}
	outcomes, err := p.groups.CancelQueued(ctx, queue, cs, at, p.retention)
	if err != nil {
		return nil, err
	}
	var (
		done        []state.Member
		ids, claims []string
		booked      []ratelimit.CapBooking
		now         = time.Now()
	)
	made, err := p.madeAmong(ctx, ms, outcomes)
	if err != nil {
		return nil, err
	}
	for i, o := range outcomes {
		switch o.State {
		case "active":
			active = append(active, ms[i])
			continue
		case "cancelled":
			res.Cancelled++
			ids, claims = append(ids, ms[i].ID), append(claims, o.Payload.Claim)
			if !o.Payload.Due.After(now) {
				// Due, a worker may have taken it and put it back: it may
				// hold a rate-limit slot and places on its recipients' caps.
				if p.limiter != nil {
					_ = p.limiter.Release(ctx, tasks.Provider(ms[i].Type), o.Payload.Account, ms[i].ID)
				}
				booked = p.capBookings(booked, ms[i].Type, ms[i].ID, o.Payload)
			}
		case "dropped":
			res.Cancelled++
		case "gone":
			if made[i] {
				res.Started++
			} else {
				res.Gone++
			}
		default:
			res.Started++
		}
		done = append(done, ms[i])
	}
	// Best effort, as the slots: a place left behind lapses with its period.
	_ = ratelimit.ReleaseCaps(ctx, p.calendars, booked)
	if len(ids) > 0 {
		if err := p.state.ForgetAll(ctx, ids, claims); err != nil {
			return nil, fmt.Errorf("cancelled, but their keys are not free yet (%w): try the cancel again", err)
		}
	}
	return active, p.groups.Leave(ctx, group, done)
}

// settle cancels a send just enqueued into a group whose cancel began
// after the send joined it: the cancel may have looked for the send before
// it was in its queue. It reports whether the send is cancelled.
func (p *Producer) settle(ctx context.Context, id string, task *asynq.Task) (bool, error) {
	payload, err := tasks.DecodePayload(task.Payload())
	if err != nil {
		return false, err
	}
	since, _, err := p.groups.Since(ctx, payload.Group, payload.GroupGen)
	if err != nil || !since {
		return false, err
	}
	if err := p.Cancel(ctx, id); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrAlreadyCancelled) {
		// Not found or cancelled: the group's cancel, or a worker, took it.
		return false, fmt.Errorf("the send %s joined group %s as it was being cancelled, and could not be cancelled: %w", id, payload.Group, err)
	}
	return true, nil
}

// findCancelled returns the record of the cancelled send id; nil when no
// queue has one. A key cancelled, enqueued again into another queue (or
// shard, under another QUEUE_SHARDS) and cancelled again has a record in
// each: the latest is the send's.
func (p *Producer) findCancelled(ctx context.Context, id string) (*state.Cancellation, error) {
	queues, err := p.inspector.Queues()
	if err != nil {
		return nil, err
	}
	var latest *state.Cancellation
	for _, q := range queues {
		c, err := p.groups.LookUp(ctx, q, id)
		if err != nil {
			return nil, err
		}
		if c != nil && (latest == nil || c.At.After(latest.At)) {
			latest = c
		}
	}
	return latest, nil
}

func cancelledStatus(c *state.Cancellation) *Status {
	return &Status{ID: c.ID, Type: c.Type, Queue: tasks.QueueOf(c.Queue), State: StateCancelled, Account: c.Account, Group: c.Group, CancelledAt: c.At, Due: c.Due}
}
