package worker

import (
	"context"
	"sync"
	"time"

	"github.com/punctualhq/punctual/state"
)

// prereads are the marks read with their tasks' dequeue, kept until the
// handler takes them. One that is never taken (a task of no handler, a
// malformed one) is dropped after readKept.
type prereads struct {
	mu sync.Mutex
	m  map[string]readMarks
}

type readMarks struct {
	state.Marks
	at time.Time
}

// readKept is how long untaken marks are kept once prereads has sweepAt.
const (
	readKept = time.Minute
	sweepAt  = 4096
)

func newPrereads() *prereads { return &prereads{m: map[string]readMarks{}} }

func (h *prereads) put(taskID string, marks state.Marks) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.m) >= sweepAt {
		for id, r := range h.m {
			if now.Sub(r.at) > readKept {
				delete(h.m, id)
			}
		}
	}
	h.m[taskID] = readMarks{marks, now}
}

// preRead keeps the values of state.MarkKeys read with a task's dequeue
// (asynqadapter.Options.PreRead); malformed ones are left for the handler
// to read again.
func (h *prereads) preRead(taskID string, vals []any) {
	if m, err := state.ParseMarks(vals); err == nil {
		h.put(taskID, m)
	}
}

func (h *prereads) take(taskID string) (state.Marks, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.m[taskID]
	delete(h.m, taskID)
	return r.Marks, ok
}

// preloaded is a task's state whose marks are those read with the task's
// dequeue, when there is one.
type preloaded struct {
	state.Store
	read *prereads
}

// Load returns the marks read with the task's dequeue, or reads them.
func (s preloaded) Load(ctx context.Context, taskID string) (state.Marks, error) {
	if h, ok := s.read.take(taskID); ok {
		return h, nil
	}
	return s.Store.Load(ctx, taskID)
}
