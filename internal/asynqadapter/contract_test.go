package asynqadapter_test

// The contract: each test runs the asynq linked in (server, client,
// inspector) through the adapter against a real redis-server, and fails
// when a change did not fire, so that an asynq whose internals moved fails
// here before a worker runs it. The tests are not parallel: each compares
// the process's counts of a change (asynqadapter.Fired) before and after.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/testwait"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/asynqadapter"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/state"
)

// fired returns a function that fails t unless the change named fired
// since fired was called, and is then judged applied.
func fired(t *testing.T, name string) func() {
	before := asynqadapter.Fired(name)
	return func() {
		t.Helper()
		if n := asynqadapter.Fired(name) - before; n <= 0 {
			t.Errorf("change %s did not fire", name)
		}
		if applied, judged := asynqadapter.Applied()[name]; judged && !applied {
			t.Errorf("change %s judged not applied", name)
		}
	}
}

// serve runs an asynq server through the adapter with o, handling every
// task with h, until the test ends.
func serve(t *testing.T, addr string, o asynqadapter.Options, c asynq.Config, h asynq.HandlerFunc) {
	t.Helper()
	c.LogLevel = asynq.FatalLevel
	if c.Concurrency == 0 {
		c.Concurrency = 2
	}
	srv := asynq.NewServer(asynqadapter.ConnOpt{RedisConnOpt: asynq.RedisClientOpt{Addr: addr}, Options: o}, c)
	if err := srv.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

func newClient(t *testing.T, addr string) (*asynq.Client, *asynq.Inspector, *redis.Client) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: addr})
	inspector := asynq.NewInspector(asynq.RedisClientOpt{Addr: addr})
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close(); _ = rdb.Close() })
	return client, inspector, rdb
}

func markKeys(id string) []string {
	return []string{"marks:" + id + ":wait", "marks:" + id + ":sending", "marks:" + id + ":window"}
}

func TestContractTheDequeueIsRecognisedAndReadsTheMarks(t *testing.T) {
	checks := []func(){fired(t, asynqadapter.DequeueMarks), fired(t, asynqadapter.KeyLayout)}
	addr := redistest.Start(t).Addr
	client, _, rdb := newClient(t, addr)
	ctx := context.Background()
	rdb.Set(ctx, "marks:t1:wait", "w1", 0)
	rdb.Set(ctx, "marks:t1:sending", "s1", 0)
	rdb.Set(ctx, "marks:t1:window", "o1", 0)

	var mu sync.Mutex
	read := map[string][]any{}
	handled := map[string][]any{} // what had been read when the handler ran
	serve(t, addr, asynqadapter.Options{Retention: time.Hour, MarkKeys: markKeys, PreRead: func(id string, vals []any) {
		mu.Lock()
		defer mu.Unlock()
		read[id] = vals
	}}, asynq.Config{Queues: map[string]int{"busy": 1, "empty": 1}}, func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		mu.Lock()
		defer mu.Unlock()
		handled[id] = read[id]
		return nil
	})
	const n = 100
	for i := range n {
		if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("busy"), asynq.TaskID("t"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 5*time.Second, "every task handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) == n })
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(handled["t1"]); got != "[w1 s1 o1]" {
		t.Errorf("marks read with t1's dequeue: %s, want [w1 s1 o1]", got)
	}
	if got := fmt.Sprint(handled["t2"]); got != "[<nil> <nil> <nil>]" {
		t.Errorf("marks read with t2's dequeue: %s, want none set", got)
	}
	for _, check := range checks {
		check()
	}
}

// archive runs a server with retention through the adapter, has it
// archive a task of queue q and returns once it has.
func archive(t *testing.T, addr string, retention time.Duration) {
	t.Helper()
	client, inspector, _ := newClient(t, addr)
	serve(t, addr, asynqadapter.Options{Retention: retention}, asynq.Config{Queues: map[string]int{"q": 1}}, func(context.Context, *asynq.Task) error {
		return fmt.Errorf("refused: %w", asynq.SkipRetry)
	})
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("q"), asynq.TaskID("dead")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "the task archived", func() bool {
		info, err := inspector.GetTaskInfo("q", "dead")
		return err == nil && info.State == asynq.TaskStateArchived
	})
}

// archived adds a task archived at, with its hash, to queue q's archive.
func archived(t *testing.T, rdb *redis.Client, id string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	rdb.HSet(ctx, asynqadapter.TaskKey("q", id), "state", "archived", "msg", "m")
	if err := rdb.ZAdd(ctx, asynqadapter.QueueKeyPrefix("q")+"archived", redis.Z{Score: float64(at.Unix()), Member: id}).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestContractTheArchiveKeepsTasksForTheRetentionAndNoLonger(t *testing.T) {
	for _, c := range []struct {
		name      string
		retention time.Duration
		kept      map[string]time.Duration // task id → how long ago it was archived
		trimmed   map[string]time.Duration
	}{
		// asynq alone would keep both: 90 days.
		{"an hour", time.Hour, map[string]time.Duration{"recent": 30 * time.Minute}, map[string]time.Duration{"old": 2 * time.Hour}},
		// asynq alone would trim both.
		{"a year", 365 * 24 * time.Hour, map[string]time.Duration{"ancient": 100 * 24 * time.Hour}, map[string]time.Duration{"too old": 400 * 24 * time.Hour}},
	} {
		t.Run(c.name, func(t *testing.T) {
			check := fired(t, asynqadapter.ArchiveLimits)
			addr := redistest.Start(t).Addr
			_, _, rdb := newClient(t, addr)
			now := time.Now()
			for id, ago := range c.kept {
				archived(t, rdb, id, now.Add(-ago))
			}
			for id, ago := range c.trimmed {
				archived(t, rdb, id, now.Add(-ago))
			}
			archive(t, addr, c.retention)
			ctx := context.Background()
			for id := range c.kept {
				if rdb.Exists(ctx, asynqadapter.TaskKey("q", id)).Val() != 1 || rdb.ZScore(ctx, asynqadapter.QueueKeyPrefix("q")+"archived", id).Err() != nil {
					t.Errorf("task %s, archived %v ago, was trimmed with a retention of %v", id, c.kept[id], c.retention)
				}
			}
			for id := range c.trimmed {
				if rdb.Exists(ctx, asynqadapter.TaskKey("q", id)).Val() != 0 || rdb.ZScore(ctx, asynqadapter.QueueKeyPrefix("q")+"archived", id).Err() == nil {
					t.Errorf("task %s, archived %v ago, was kept with a retention of %v", id, c.trimmed[id], c.retention)
				}
			}
			check()
		})
	}
}

func TestContractTheArchiveIsNotTrimmedByCount(t *testing.T) {
	check := fired(t, asynqadapter.ArchiveLimits)
	addr := redistest.Start(t).Addr
	_, _, rdb := newClient(t, addr)
	// asynq alone keeps the newest 10,000 archived tasks of a queue.
	const full = 10000
	members := make([]redis.Z, full)
	at := float64(time.Now().Add(-time.Minute).Unix())
	for i := range members {
		members[i] = redis.Z{Score: at, Member: "old" + strconv.Itoa(i)}
	}
	if err := rdb.ZAdd(context.Background(), asynqadapter.QueueKeyPrefix("q")+"archived", members...).Err(); err != nil {
		t.Fatal(err)
	}
	archive(t, addr, time.Hour)
	if n := rdb.ZCard(context.Background(), asynqadapter.QueueKeyPrefix("q")+"archived").Val(); n != full+1 {
		t.Errorf("%d archived tasks after one more was archived, want %d", n, full+1)
	}
	check()
}

func TestContractAResultIsKeptWhereWriteResultSays(t *testing.T) {
	check := fired(t, asynqadapter.ResultWithCompletion)
	addr := redistest.Start(t).Addr
	client, inspector, rdb := newClient(t, addr)
	write := func(ctx context.Context, pipe redis.Pipeliner, taskID string, result []byte) redis.Cmder {
		return pipe.Set(ctx, "record:"+taskID, result, time.Hour)
	}
	serve(t, addr, asynqadapter.Options{Retention: time.Hour, WriteResult: write}, asynq.Config{}, func(_ context.Context, task *asynq.Task) error {
		_, err := task.ResultWriter().Write([]byte("the result"))
		return err
	})
	// No retention, as punctual enqueues: asynq's completion deletes the
	// task.
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.TaskID("r1")); err != nil {
		t.Fatal(err)
	}
	// A result held for want of its completion would be written only after
	// 10 s, past this deadline.
	testwait.For(t, 5*time.Second, "the task gone and its result kept", func() bool {
		_, err := inspector.GetTaskInfo("default", "r1")
		return errors.Is(err, asynq.ErrTaskNotFound) && rdb.Get(context.Background(), "record:r1").Val() == "the result"
	})
	check()
}

func TestContractAQueueFoundEmptyIsNotAskedAgainAtOnce(t *testing.T) {
	before := asynqadapter.Fired(asynqadapter.EmptyQueueSkip)
	addr := redistest.Start(t).Addr
	// With its queues empty, asynq asks again after 2.5 to 7.5 ms, within
	// emptyFor (50 ms): some of its dequeues never reach Redis.
	serve(t, addr, asynqadapter.Options{}, asynq.Config{Queues: map[string]int{"empty": 1}, TaskCheckInterval: 5 * time.Millisecond}, func(context.Context, *asynq.Task) error { return nil })
	testwait.For(t, 5*time.Second, "a dequeue of the empty queue skipped", func() bool { return asynqadapter.Fired(asynqadapter.EmptyQueueSkip) > before })
	if applied := asynqadapter.Applied()[asynqadapter.EmptyQueueSkip]; !applied {
		t.Error("the empty-queue skip is not judged applied")
	}
}

func TestContractACancelDeletesQueuedTasksByTheirKeysAndReadsTheirPayloads(t *testing.T) {
	check := fired(t, asynqadapter.TaskMessagePayload)
	addr := redistest.Start(t).Addr
	client, inspector, rdb := newClient(t, addr)
	if _, err := client.Enqueue(asynq.NewTask("t", []byte(`{"account":"a1"}`)), asynq.Queue("q"), asynq.TaskID("pending1")); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(asynq.NewTask("t", []byte(`{"account":"a2"}`)), asynq.Queue("q"), asynq.TaskID("scheduled1"), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	out, err := state.Groups{Client: rdb}.CancelQueued(context.Background(), "q", []state.Cancellation{{ID: "pending1", Queue: "q"}, {ID: "scheduled1", Queue: "q"}}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"a1", "a2"} {
		if out[i].State != "cancelled" || out[i].Payload.Account != want {
			t.Errorf("task %d: %s with account %q, want cancelled with %q", i, out[i].State, out[i].Payload.Account, want)
		}
	}
	for _, id := range []string{"pending1", "scheduled1"} {
		if _, err := inspector.GetTaskInfo("q", id); !errors.Is(err, asynq.ErrTaskNotFound) {
			t.Errorf("task %s after its cancel: %v, want asynq not to find it", id, err)
		}
	}
	if q, err := inspector.GetQueueInfo("q"); err != nil || q.Pending != 0 || q.Scheduled != 0 {
		t.Errorf("queue after the cancel: %+v, %v; want nothing pending or scheduled", q, err)
	}
	check()
}

func TestContractTheRetryOffsetKeepsAWaitFromArchivingATask(t *testing.T) {
	check := fired(t, asynqadapter.RetryOffsetPatch)
	addr := redistest.Start(t).Addr
	client, inspector, _ := newClient(t, addr)
	errWait := errors.New("waiting")
	var mu sync.Mutex
	var allowed []int
	serve(t, addr, asynqadapter.Options{Retention: time.Hour}, asynq.Config{
		IsFailure:                func(err error) bool { return !errors.Is(err, errWait) },
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 0 },
		DelayedTaskCheckInterval: 50 * time.Millisecond,
	}, func(ctx context.Context, _ *asynq.Task) error {
		n, _ := asynq.GetMaxRetry(ctx)
		mu.Lock()
		defer mu.Unlock()
		allowed = append(allowed, asynqadapter.MaxRetry(n))
		if len(allowed) == 1 {
			return errWait // a wait on the last (only) try the send is allowed
		}
		return nil
	})
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.TaskID("w1"), asynq.MaxRetry(asynqadapter.WithRetryOffset(0)), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "the task completed", func() bool {
		info, err := inspector.GetTaskInfo("default", "w1")
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(allowed) != "[0 0]" {
		t.Errorf("retries allowed as the handler saw them: %v, want [0 0]", allowed)
	}
	check()
}

func TestContractExtraServersTakeTasks(t *testing.T) {
	check := fired(t, asynqadapter.Takers)
	addr := redistest.Start(t).Addr
	client, _, _ := newClient(t, addr)
	srvs := asynqadapter.Servers(asynq.RedisClientOpt{Addr: addr}, asynq.Config{Concurrency: 64, LogLevel: asynq.FatalLevel}, 64)
	if len(srvs) != 4 {
		t.Fatalf("%d servers for 64 send slots, want 4", len(srvs))
	}
	var mu sync.Mutex
	done := 0
	for _, srv := range srvs {
		if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { mu.Lock(); defer mu.Unlock(); done++; return nil })); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}
	for range 50 {
		if _, err := client.Enqueue(asynq.NewTask("t", nil)); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 5*time.Second, "every task handled", func() bool { mu.Lock(); defer mu.Unlock(); return done == 50 })
	check()
}

func TestContractAppsEnqueueThroughTheAutopipeliner(t *testing.T) {
	check := fired(t, asynqadapter.PipelinedEnqueue)
	addr := redistest.Start(t).Addr
	_, inspector, rdb := newClient(t, addr)
	client := asynq.NewClientFromRedisClient(asynqadapter.Pipelined(rdb))
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.TaskID("p1")); err != nil {
		t.Fatal(err)
	}
	if _, err := inspector.GetTaskInfo("default", "p1"); err != nil {
		t.Errorf("the task enqueued through the autopipeliner: %v", err)
	}
	check()
}

func TestContractAQueuesShardsAreAskedAsOne(t *testing.T) {
	check := fired(t, asynqadapter.ShardsAsOne)
	addr := redistest.Start(t).Addr
	client, inspector, _ := newClient(t, addr)
	const n = 20
	for i := range n {
		if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("q~1"), asynq.TaskID(fmt.Sprint("s", i))); err != nil {
			t.Fatal(err)
		}
	}
	shards := func(q string) []string {
		if q == "other" {
			return []string{"other"}
		}
		return []string{"q", "q~1"}
	}
	var mu sync.Mutex
	queues := map[string]int{}
	// One task at a time: each is a dequeue of its own, asked first of q,
	// q~1 or other, in asynq's weighted order.
	serve(t, addr, asynqadapter.Options{Shards: shards}, asynq.Config{Concurrency: 1, Queues: map[string]int{"q": 1, "q~1": 1, "other": 1}},
		func(ctx context.Context, _ *asynq.Task) error {
			q, _ := asynq.GetQueueName(ctx)
			mu.Lock()
			queues[q]++
			mu.Unlock()
			return nil
		})
	testwait.For(t, 10*time.Second, "every task of q~1 processed", func() bool {
		info, err := inspector.GetQueueInfo("q~1")
		return err == nil && info.Processed == n && info.Active == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if queues["q~1"] != n || len(queues) != 1 {
		t.Errorf("the handler saw queues %v, want q~1 %d times: asynq handles a task by the queue it came from", queues, n)
	}
	check()
}

func TestContractAnEndRefusedIsWrittenOnceRedisTakesIt(t *testing.T) {
	check := fired(t, asynqadapter.EndRetry)
	addr := redistest.Start(t).Addr
	client, inspector, rdb := newClient(t, addr)
	ctx := context.Background()
	// The worker's user loses its scripts while the task runs: asynq's
	// end of it (a script) is refused, and given to asynq's syncer to try
	// again every 5 s.
	if err := rdb.Do(ctx, "ACL", "SETUSER", "taker", "on", ">secret", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.TaskID("e1")); err != nil {
		t.Fatal(err)
	}
	conn := asynqadapter.ConnOpt{RedisConnOpt: asynq.RedisClientOpt{Addr: addr, Username: "taker", Password: "secret"}}
	srv := asynq.NewServer(conn, asynq.Config{Concurrency: 1, LogLevel: asynq.FatalLevel})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		return rdb.Do(ctx, "ACL", "SETUSER", "taker", "-evalsha", "-eval").Err()
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	testwait.For(t, 10*time.Second, "the task's end refused", func() bool {
		entries, err := rdb.Do(ctx, "ACL", "LOG").Slice()
		return err == nil && len(entries) > 0
	})
	if err := rdb.Do(ctx, "ACL", "SETUSER", "taker", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	// The syncer's next try, within 5 s, ends it: without the change every
	// try fails with the cancelled context of the first, and the task
	// stays active for its lease and the recoverer's minute.
	testwait.For(t, 12*time.Second, "the task ended", func() bool {
		_, err := inspector.GetTaskInfo("default", "e1")
		return errors.Is(err, asynq.ErrTaskNotFound)
	})
	check()
}
