package asynqadapter

import (
	"sync/atomic"

	"go.uber.org/zap"
)

// The changes of this package, by the name Applied and Fired report them
// under (the patch label of punctual_asynq_patch_applied).
const (
	DequeueMarks         = "dequeue_marks"
	EmptyQueueSkip       = "empty_queue_skip"
	ArchiveLimits        = "archive_limits"
	ResultWithCompletion = "result_with_completion"
	KeyLayout            = "key_layout"
	TaskMessagePayload   = "task_message_payload"
	RetryOffsetPatch     = "retry_offset"
	Takers               = "takers"
	PipelinedEnqueue     = "pipelined_enqueue"
	ShardsAsOne          = "shards_as_one"
	EndRetry             = "end_retry"
)

// patch counts what one change did. A change recognised at run time
// (lost != "") is judged applied at its first recognition, and not applied
// once it has missed limit chances without one: asynq is linked in, so
// what it does at the start it does for the life of the process.
type patch struct {
	name  string
	lost  string // what is lost when it does not apply; "" for a change that cannot miss
	limit int64  // chances missed before it is judged not applied

	fired, recognised, missedN atomic.Int64
	verdict                    atomic.Int32 // unknown, applied or notApplied
}

const (
	unknown int32 = iota
	applied
	notApplied
)

// patches are every change, by name.
var patches = func() map[string]*patch {
	m := map[string]*patch{}
	for _, p := range []*patch{
		{name: DequeueMarks, lost: "each send reads its marks in a Redis round trip of its own", limit: 100},
		{name: EmptyQueueSkip, lost: "asynq's dequeue is not recognised: empty queues are asked for every task taken, marks are not read with the dequeue, and each shard of a queue is taken as a queue of its own weight", limit: 100},
		{name: ArchiveLimits, lost: "archived sends are deleted past asynq's 10,000 per queue and 90 days instead of ARCHIVE_RETENTION", limit: 1},
		{name: ResultWithCompletion, lost: "a send's result is written up to 10 s after its completion", limit: 10},
		{name: KeyLayout, lost: "asynq's keys are not where punctual looks: a cancel cannot delete queued tasks", limit: 100},
		{name: TaskMessagePayload, lost: "a cancel cannot read the payload of the tasks it deletes", limit: 10},
		{name: RetryOffsetPatch, lost: "tasks reach the worker without the retry offset: a wait on the last try archives the send", limit: 100},
		{name: Takers},
		{name: PipelinedEnqueue},
		{name: ShardsAsOne},
		{name: EndRetry},
	} {
		m[p.name] = p
	}
	return m
}()

// logger is where a change not applied is said.
var logger atomic.Pointer[zap.Logger]

// hit counts an effect of the change and recognises it.
func (p *patch) hit() {
	p.fired.Add(1)
	p.recognise()
}

// recognise records a chance the change took.
func (p *patch) recognise() {
	p.recognised.Add(1)
	if p.verdict.Load() != applied {
		p.verdict.Store(applied) // even after a miss judged it not: it applies
	}
}

// missed records a chance the change did not take, and judges it not
// applied, once, when it has missed limit chances and taken none.
func (p *patch) missed() {
	if p.lost == "" || p.verdict.Load() != unknown {
		return
	}
	if p.missedN.Add(1) < p.limit || p.recognised.Load() > 0 {
		return
	}
	if p.verdict.CompareAndSwap(unknown, notApplied) {
		if l := logger.Load(); l != nil {
			l.Warn("asynq change not applied: this asynq does not do what punctual expects of v0.26", zap.String("patch", p.name), zap.String("lost", p.lost))
		}
	}
}

// Applied reports, for each change recognised at run time that has been
// judged, whether it applies in this process: false for one that missed
// its first chances (see patches). A change not judged yet is absent.
func Applied() map[string]bool {
	out := map[string]bool{}
	for name, p := range patches {
		if p.lost == "" {
			continue
		}
		switch p.verdict.Load() {
		case applied:
			out[name] = true
		case notApplied:
			out[name] = false
		}
	}
	return out
}

// Fired returns how many times the change named has had its effect in this
// process, for tests that hold asynq to what the change expects.
func Fired(name string) int64 {
	if p := patches[name]; p != nil {
		return p.fired.Load()
	}
	return 0
}
