package asynqadapter

// A task's end that Redis refused is written again with a live context.
//
// asynq v0.26: the processor writes a task's end (rdb.Done, MarkAsComplete,
// Retry, Archive: processor.go:284-392) with a context it cancels when the
// write returns; when Redis refuses it, a closure writing it again with
// that same context goes to the syncer (syncer.go:75-84), which runs it
// every 5 s until the task's lease ends. Each of those tries fails at once,
// the context being cancelled: a task whose end met a Redis that did not
// answer (a Cluster's master restarting, a failover) stays active until its
// lease has been expired 30 s and asynq's recoverer, once a minute, hands it
// out again: a send made, or due again, one to two minutes late.
//
// We change: a script that takes a task off its queue's active list (its
// keys hold the queue's active list, then its lease set), called with a
// context cancelled before its deadline, runs with a context that is not
// cancelled, of the same deadline: the first try after Redis is back writes
// the end. A held result (result_hold.go) goes with it.
//
// We recognise it: the keys; asynq's end scripts are the ones with both.
//
// Not recognised: nothing to see until a write fails; the end is then
// written late, by the recoverer. TestAClusterNodeRestartMidRunLosesNothing
// (worker) and TestContractAnEndRefusedIsWrittenOnceRedisTakesIt show it.

import (
	"context"
	"errors"
	"time"
)

// liveEnd returns ctx, or, for the keys of a script that ends an active
// task and a ctx cancelled before its deadline, a context that is not,
// with the same deadline.
func liveEnd(ctx context.Context, keys []string) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !errors.Is(ctx.Err(), context.Canceled) || !ok || !time.Now().Before(deadline) || !endsActive(keys) {
		return ctx, func() {}
	}
	patches[EndRetry].hit()
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// endsActive reports whether keys are a script's that takes a task off its
// queue's active list: the list's key, then its lease's.
func endsActive(keys []string) bool {
	for i := 1; i < len(keys); i++ {
		if isQueueKey(keys[i-1], "active") && isQueueKey(keys[i], "lease") {
			return true
		}
	}
	return false
}
