package worker

import (
	"context"
	"sync"
	"time"

	"github.com/punctualhq/punctual/state"
)

// holds are the holds read with their tasks' dequeue, kept until the
// handler takes them. One that is never taken (a task of no handler, a
// malformed one) is dropped after holdKept.
type holds struct {
	mu sync.Mutex
	m  map[string]readHold
}

type readHold struct {
	state.Marks
	at time.Time
}

// holdKept is how long an untaken hold is kept once holds has sweepAt.
const (
	holdKept = time.Minute
	sweepAt  = 4096
)

func newHolds() *holds { return &holds{m: map[string]readHold{}} }

func (h *holds) put(taskID string, hold state.Marks) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.m) >= sweepAt {
		for id, r := range h.m {
			if now.Sub(r.at) > holdKept {
				delete(h.m, id)
			}
		}
	}
	h.m[taskID] = readHold{hold, now}
}

func (h *holds) take(taskID string) (state.Marks, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.m[taskID]
	delete(h.m, taskID)
	return r.Marks, ok
}

// preloaded is a task's state whose hold is the one read with the task's
// dequeue, when there is one.
type preloaded struct {
	state.Store
	holds *holds
}

// Load returns the hold read with the task's dequeue, or reads it.
func (s preloaded) Load(ctx context.Context, taskID string) (state.Marks, error) {
	if h, ok := s.holds.take(taskID); ok {
		return h, nil
	}
	return s.Store.Load(ctx, taskID)
}
