package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/internal/asynqadapter"
	"github.com/punctualhq/punctual/internal/testwait"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/tasks"
)

const keyedMessage = `{"type":"mateo:send_message","key":"order-1","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi"}}`

// TestASendMadeKeepsItsKeyAndStatusAndNothingElse: asynq's task is gone
// once the send is made, and so is its key's claim; what is kept, for
// RESULT_RETENTION, is a record that keeps the key taken (the same
// envelope again, in its queue or another, or a content key enqueued
// again, is a duplicate) and tells status, list, cancel, reschedule and
// retry that the send was made.
func TestASendMadeKeepsItsKeyAndStatusAndNothingElse(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	id := e.enqueue(t, keyedMessage)
	e.waitState(t, id, "completed", 5*time.Second)
	once, err := tasks.ParseEnvelope([]byte(plainMessage), builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	byContent, err := e.producer.EnqueueOnce(ctx, once)
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(t, byContent.ID, "completed", 5*time.Second)

	for _, k := range []string{asynqadapter.TaskKey("mateo", id), "punctual:{" + id + "}:queue"} {
		if n := e.rdb.Exists(ctx, k).Val(); n != 0 {
			t.Errorf("%s is kept after the send: %v", k, e.rdb.Type(ctx, k).Val())
		}
	}
	if ttl := e.rdb.PTTL(ctx, "punctual:{"+id+"}:sending").Val(); ttl < 7*24*time.Hour-time.Minute || ttl > 7*24*time.Hour {
		t.Errorf("the record lives %s, want RESULT_RETENTION's default, 7 days", ttl)
	}

	for _, again := range []string{keyedMessage, strings.Replace(keyedMessage, `"key"`, `"queue":"urgent","key"`, 1)} {
		res, err := e.producer.EnqueueJSON(ctx, []byte(again))
		if err != nil || !res.Duplicate || res.State != "completed" || res.ID != id || res.Queue != "mateo" {
			t.Errorf("enqueued again: %+v, %v; want a duplicate of the completed send in mateo", res, err)
		}
	}
	if res, err := e.producer.EnqueueOnce(ctx, once); err != nil || !res.Duplicate || res.State != "completed" {
		t.Errorf("content key enqueued again: %+v, %v; want a duplicate of the completed send", res, err)
	}
	for _, q := range []string{"mateo", "urgent"} {
		for _, i := range []string{id, byContent.ID} {
			if _, err := e.inspector.GetTaskInfo(q, i); !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
				t.Errorf("task %s in queue %s after the send: %v", i, q, err)
			}
		}
	}

	s, err := e.producer.Status(ctx, id)
	if err != nil || s.State != producer.StateCompleted || s.Queue != "mateo" || s.Type != "mateo:send_message" || s.Account != "default" ||
		s.CompletedAt.IsZero() || s.MaxRetry != 3 || s.Result == nil || s.Result.Status != 200 || !strings.Contains(string(s.Result.Response), `"message_id":`) {
		t.Errorf("status %+v (result %+v), %v; want completed in mateo, with its time and the message id", s, s.Result, err)
	}
	listed, err := e.producer.List(ctx, producer.ListOptions{State: producer.StateCompleted, Queue: "mateo"})
	if err != nil || len(listed) != 2 {
		t.Errorf("listed %d completed (%v), want 2", len(listed), err)
	}
	if err := e.producer.Cancel(ctx, id); !errors.Is(err, producer.ErrTooLate) {
		t.Errorf("cancel: %v, want ErrTooLate", err)
	}
	if _, err := e.producer.Reschedule(ctx, id, time.Now().Add(time.Hour)); !errors.Is(err, producer.ErrTooLate) {
		t.Errorf("reschedule: %v, want ErrTooLate", err)
	}
	if err := e.producer.Retry(ctx, id); err == nil {
		t.Error("retry of a completed send: no error")
	}
	if n := len(e.sandbox.Requests()); n != 2 {
		t.Errorf("%d requests, want the 2 sends", n)
	}
}

// TestATaskOfAnIDMadeIsNotSent: a task enqueued under the id of a send made
// (a producer that checked the key just before the send completed) is
// taken and dropped, unsent, for any provider; the record stays as it was.
func TestATaskOfAnIDMadeIsNotSent(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"AT_MOST_ONCE": "leadconnector"})
	ctx := context.Background()
	lc := `{"type":"leadconnector:send_message","key":"k","payload":{"type":"SMS","contactId":"c1","message":"Hi"}}`
	for _, envelope := range []string{keyedMessage, lc} {
		id := e.enqueue(t, envelope)
		before := e.waitState(t, id, "completed", 5*time.Second)
		sent := len(e.sandbox.Requests())
		queue, _, _ := strings.Cut(before.Type, ":")
		e.enqueueTask(t, taskOf(t, before.Type, id, tasks.Payload{Account: "default", Body: []byte(`{"text":"again"}`)}))
		testwait.For(t, 5*time.Second, "the task taken", func() bool {
			_, err := e.inspector.GetTaskInfo(queue, id)
			return errors.Is(err, asynq.ErrTaskNotFound)
		})
		if n := len(e.sandbox.Requests()); n != sent {
			t.Errorf("%s: %d requests after the task of its id, want none", queue, n-sent)
		}
		after, err := e.producer.Status(ctx, id)
		if err != nil || after.State != producer.StateCompleted || !after.CompletedAt.Equal(before.CompletedAt) {
			t.Errorf("%s: status after %+v, %v; want the record as it was, %s", queue, after, err, before.CompletedAt)
		}
	}
}

// taskOf is the task of type typ, id and payload in its provider's queue,
// as the producer makes it.
func taskOf(t *testing.T, typ, id string, payload tasks.Payload) *asynq.Task {
	t.Helper()
	task, err := tasks.Rebuild(typ, payload, id, tasks.Provider(typ), tasks.Options{MaxRetry: 3}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// enqueueTask enqueues task as asynq's client does, past the producer and
// its checks.
func (e *env) enqueueTask(t *testing.T, task *asynq.Task, opts ...asynq.Option) {
	t.Helper()
	if _, err := asynq.NewClientFromRedisClient(e.rdb).Enqueue(task, opts...); err != nil {
		t.Fatal(err)
	}
}
