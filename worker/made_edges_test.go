package worker_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/testwait"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
)

// lcKeyed is an at-most-once send (with AT_MOST_ONCE=leadconnector) under
// a key.
const lcKeyed = `{"type":"leadconnector:send_message","key":"adv-1","payload":{"type":"SMS","contactId":"c1","message":"Hi"}}`

// TestACancelOfASendThatCompletesMeanwhileIsTooLate: a cancel asked while
// the send's request is in flight says ErrTooLate once the send is made,
// though asynq deletes the completed task as a worker's drop would: its
// record says it went.
func TestACancelOfASendThatCompletesMeanwhileIsTooLate(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"AT_MOST_ONCE": "leadconnector"})
	ctx := context.Background()
	e.sandbox.SetFaults(sandbox.Faults{Slow: 1, SlowDelay: time.Second})
	id := e.enqueue(t, lcKeyed)
	// The in-flight mark is set right before the request is written: past
	// it, the worker checks for a cancel no more.
	testwait.For(t, 5*time.Second, "the request in flight", func() bool {
		return e.rdb.Exists(ctx, "punctual:{"+id+"}:sending").Val() == 1
	})
	err := e.producer.Cancel(ctx, id)
	if n := len(e.sandbox.Requests()); n != 1 {
		t.Fatalf("%d requests, want the one send", n)
	}
	if !errors.Is(err, producer.ErrTooLate) {
		t.Errorf("cancel of a send made while the cancel waited: %v, want ErrTooLate", err)
	}
	if s, err := e.producer.Status(ctx, id); err != nil || s.State != producer.StateCompleted {
		t.Errorf("status %+v, %v; want completed", s, err)
	}
}

// oldDeliveredMark is the sending mark an at-most-once send's worker of the
// previous version left once the provider had answered: "delivered:", the
// payload's fingerprint, a space and the result.
func oldDeliveredMark(payload []byte) string {
	return "delivered:" + state.Fingerprint(payload) + ` {"provider":"leadconnector","status":201}`
}

// TestADeliveredMarkOfAnOlderWorkerKeepsItsSendFromGoingAgain: an
// at-most-once send whose worker, of a version that kept no records, had
// its answer, wrote its delivered mark and stopped before asynq recorded
// the completion, comes back to a worker of this version: it ends done,
// unsent.
func TestADeliveredMarkOfAnOlderWorkerKeepsItsSendFromGoingAgain(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"AT_MOST_ONCE": "leadconnector"})
	ctx := context.Background()
	id := "adv-old-delivered"
	task := taskOf(t, "leadconnector:send_message", id, tasks.Payload{Account: "default", Body: []byte(`{"type":"SMS","contactId":"c1","message":"Hi"}`)})
	if err := e.rdb.Set(ctx, "punctual:{"+id+"}:sending", oldDeliveredMark(task.Payload()), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	// As that version enqueued it: with asynq's retention.
	e.enqueueTask(t, task, asynq.Retention(time.Hour))
	testwait.For(t, 5*time.Second, "the task ended", func() bool {
		info, err := e.inspector.GetTaskInfo("leadconnector", id)
		return err == nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived)
	})
	if n := len(e.sandbox.Requests()); n != 0 {
		t.Errorf("%d requests for a send its earlier worker had made, want none", n)
	}
}

// TestASendEnqueuedByThePreviousVersionHasOneStatusAndOneListing: a task
// enqueued with asynq's retention (by a version that kept no records, or
// scheduled before the upgrade) completes by asynq's MarkAsComplete,
// which keeps the task, and the record is written with it: status shows
// the record, with the provider's ids, and list shows the send once.
func TestASendEnqueuedByThePreviousVersionHasOneStatusAndOneListing(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	id := "adv-old-retention"
	e.enqueueTask(t, taskOf(t, "mateo:send_message", id, tasks.Payload{Account: "default", Body: []byte(`{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi"}`)}), asynq.Retention(time.Hour))
	s := e.waitState(t, id, "completed", 5*time.Second)
	if s.Result == nil || s.Result.Status != 200 {
		t.Errorf("status of the completed send: result %+v, want the provider's status and ids", s.Result)
	}
	listed, err := e.producer.List(ctx, producer.ListOptions{State: producer.StateCompleted, Queue: "mateo"})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 {
		ids := make([]string, len(listed))
		for i, l := range listed {
			ids[i] = l.ID
		}
		t.Errorf("listed %v as completed, want the one send once", ids)
	}
}

// TestARecordThatCannotBeWrittenDoesNotFreeTheKeyOfASendMade: Redis at
// its maxmemory with noeviction (asynq's advice) refuses the record's SET.
// The completion goes in one transaction with it, so Redis runs neither:
// the task stays, and so does the key's claim, until Redis takes the
// record, which the worker writes then. The same envelope
// enqueued again is then a duplicate, not a second message to
// LeadConnector, which has no idempotency of its own.
func TestARecordThatCannotBeWrittenDoesNotFreeTheKeyOfASendMade(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	e.sandbox.SetFaults(sandbox.Faults{Slow: 1, SlowDelay: time.Second})
	id := e.enqueue(t, lcKeyed)
	e.waitState(t, id, "active", 5*time.Second)
	mem, err := usedMemory(ctx, e.rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(mem/2, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the completion refused", func() bool {
		return e.logs.FilterMessageSnippet("Will retry syncing").Len() > 0
	})
	for _, k := range []string{"asynq:{leadconnector}:t:" + id, "punctual:{" + id + "}:queue"} {
		if e.rdb.Exists(ctx, k).Val() != 1 {
			t.Errorf("%s is gone while the record could not be written", k)
		}
	}
	if err := e.rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	// The record is written once Redis takes it, before the task's lease
	// ends and it comes back to a worker, which then drops it.
	e.waitState(t, id, "completed", 15*time.Second)
	if n := len(e.sandbox.Requests()); n != 1 {
		t.Fatalf("%d requests, want the one send", n)
	}
	e.sandbox.SetFaults(sandbox.Faults{})
	res, err := e.producer.EnqueueJSON(ctx, []byte(lcKeyed))
	if err != nil || !res.Duplicate {
		t.Errorf("the key of a send made, enqueued again: %+v, %v; want a duplicate", res, err)
	}
	if n := len(e.sandbox.Requests()); n != 1 {
		t.Errorf("%d requests, want the one send", n)
	}
}

// usedMemory is Redis's used_memory.
func usedMemory(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no used_memory in INFO memory")
}

// TestTheStatusOfASendMadeAfterAFailureSaysItsAttemptsAndExpiry: the
// record keeps the attempts a send spent and its expiry; the errors of the
// failed ones are not kept (docs/cli.md).
func TestTheStatusOfASendMadeAfterAFailureSaysItsAttemptsAndExpiry(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"RETRY_BACKOFF_BASE": "10ms", "RETRY_BACKOFF_MAX": "20ms"})
	e.sandbox.Script(sandbox.Answer{Status: 503, Body: `{"message":"down"}`})
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	id := e.enqueue(t, `{"type":"leadconnector:send_message","key":"adv-2","expires_at":"`+expires.Format(time.RFC3339)+`","payload":{"type":"SMS","contactId":"c1","message":"Hi"}}`)
	s := e.waitState(t, id, "completed", 10*time.Second)
	if s.Retried != 1 || s.MaxRetry != 3 {
		t.Errorf("retried %d of %d, want the one failure of 3 allowed", s.Retried, s.MaxRetry)
	}
	if !s.ExpiresAt.Equal(expires) {
		t.Errorf("status expires_at %s, want %s", s.ExpiresAt, expires)
	}
}
