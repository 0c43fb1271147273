package asynqadapter

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/punctualhq/punctual/internal/testwait"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/punctualhq/punctual/internal/redistest"
)

func setupClient(t *testing.T) *Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	c := New(rdb, Options{Retention: time.Hour, MarkKeys: markKeysOf, PreRead: func(string, []any) {}, WriteResult: recordResult})
	c.resultDelay = 50 * time.Millisecond
	return c
}

// markKeysOf are mark keys of the shape the worker's are.
func markKeysOf(id string) []string {
	return []string{"m:" + id + ":wait", "m:" + id + ":sending", "m:" + id + ":window"}
}

// recordResult keeps a task's result in a key of its own, as the worker
// keeps its record of a send.
func recordResult(ctx context.Context, pipe redis.Pipeliner, taskID string, result []byte) redis.Cmder {
	return pipe.Set(ctx, "record:"+taskID, result, time.Hour)
}

// complete is a completion as asynq's Done is: it deletes the task, and
// says whether the record was there when it did.
var complete = redis.NewScript(`
redis.call("DEL", KEYS[1])
return redis.call("EXISTS", KEYS[2])`)

func TestAResultIsWrittenWithItsTasksCompletionAndBeforeIt(t *testing.T) {
	t.Parallel()
	c := setupClient(t)
	ctx := context.Background()
	const key, record = "asynq:{mateo}:t:task1", "record:task1"
	c.UniversalClient.HSet(ctx, key, "msg", "m", "state", "active")

	c.HSet(ctx, key, "result", `{"status":200}`)
	if n := c.UniversalClient.Exists(ctx, record, key+":result").Val(); n != 0 || c.UniversalClient.HExists(ctx, key, "result").Val() {
		t.Fatal("the result was written before the completion")
	}
	// The completion fails (its context ended): asynq tries it again,
	// and the result goes with the try that succeeds.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_ = complete.Run(cancelled, c, []string{key, record}).Err()
	there, err := complete.Run(ctx, c, []string{key, record}).Int()
	if err != nil {
		t.Fatal(err)
	}
	if there != 1 {
		t.Error("the task was deleted before its record was written")
	}
	if got := c.UniversalClient.Get(ctx, record).Val(); got != `{"status":200}` {
		t.Errorf("record %q after the completion, want the handler's result", got)
	}
}

func TestAResultWithoutACompletionIsWrittenAfterADelay(t *testing.T) {
	t.Parallel()
	c := setupClient(t)
	ctx := context.Background()
	c.HSet(ctx, "asynq:{mateo}:t:lone", "result", "r") // no completion follows: written after resultDelay
	testwait.For(t, 5*time.Second, "written", func() bool { return c.UniversalClient.Get(ctx, "record:lone").Val() == "r" })
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.results) != 0 {
		t.Errorf("%d results still held", len(c.results))
	}
}

func TestWithoutWriteResultAResultGoesToAsynqAtOnce(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	c := New(rdb, Options{Retention: time.Hour})
	ctx := context.Background()
	const key = "asynq:{mateo}:t:task1"
	c.HSet(ctx, key, "result", "r")
	if got := rdb.HGet(ctx, key, "result").Val(); got != "r" {
		t.Errorf("result %q, want it written at once", got)
	}
}

func TestInAClusterTheHandlerReadsTheHoldItself(t *testing.T) {
	t.Parallel()
	c := New(redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}), Options{Retention: time.Hour, MarkKeys: markKeysOf, PreRead: func(string, []any) {}})
	t.Cleanup(func() { _ = c.Close() })
	if c.markKeyParts != nil {
		t.Error("a Cluster client reads marks with the dequeue: their keys are in another slot")
	}
}

func TestAChangeThatMissesItsFirstChancesIsSaidOnceAndReportedNotApplied(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	logger.Store(zap.New(core))
	t.Cleanup(func() { logger.Store(nil) })
	p := &patch{name: "test_patch", lost: "nothing real", limit: 3}
	for range 2 {
		p.missed()
	}
	if p.verdict.Load() != unknown {
		t.Fatalf("judged after 2 of 3 chances: %d", p.verdict.Load())
	}
	for range 5 {
		p.missed()
	}
	if p.verdict.Load() != notApplied {
		t.Fatalf("verdict %d after 7 chances missed, want not applied", p.verdict.Load())
	}
	if got := logs.FilterField(zap.String("patch", "test_patch")).Len(); got != 1 {
		t.Errorf("said %d times, want once", got)
	}

	q := &patch{name: "other", lost: "nothing", limit: 3}
	q.missed()
	q.hit()
	for range 5 {
		q.missed()
	}
	if q.verdict.Load() != applied || logs.FilterField(zap.String("patch", "other")).Len() != 0 {
		t.Errorf("a change recognised once is judged %d and said %d times, want applied and never said", q.verdict.Load(), logs.FilterField(zap.String("patch", "other")).Len())
	}
}

func TestTheServersOfAWorkerShareWhatTheyFoundEmpty(t *testing.T) {
	t.Parallel()
	conn := asynq.RedisClientOpt{Addr: redistest.Start(t).Addr}
	var clients []*Client
	// As Servers gives the ConnOpt of a worker's servers.
	o := ConnOpt{RedisConnOpt: conn, Options: Options{Retention: time.Hour, empty: newEmptyQueues()}}
	for range 2 {
		c := o.MakeRedisClient().(*Client)
		t.Cleanup(func() { _ = c.Close() })
		clients = append(clients, c)
	}
	asked := 0
	ask := func() *redis.Cmd { asked++; return redis.NewCmdResult(nil, redis.Nil) }
	clients[0].dequeue(context.Background(), "asynq:{q}:pending", ask)
	clients[1].dequeue(context.Background(), "asynq:{q}:pending", ask)
	if asked != 1 {
		t.Errorf("Redis asked %d times, want once: the second server knows the queue is empty", asked)
	}
	alone := New(clients[0].UniversalClient, Options{Retention: time.Hour})
	alone.dequeue(context.Background(), "asynq:{q}:pending", ask)
	if asked != 2 {
		t.Errorf("a client of its own asked %d times in all, want 2", asked)
	}
}

func TestAnEmptyQueueIsAskedAgainByOneServerAtATimeAndABusyOneByAll(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	const pending = "asynq:{q}:pending"
	ctx := context.Background()
	// A task is there, though the queue was found empty: the first server
	// asks the script.
	rdb.RPush(ctx, pending, "t1")
	empty := func() *redis.Cmd { return redis.NewCmdResult(nil, redis.Nil) }
	task := func() *redis.Cmd { return redis.NewCmdResult("task", nil) }
	// While one server asks, the second comes: asked again (by both) only
	// when the queue had a task the last time.
	for _, tc := range []struct {
		name      string
		last      func() *redis.Cmd
		wantAsked int
	}{{"found empty", empty, 1}, {"had a task", task, 2}} {
		c := New(rdb, Options{Retention: time.Hour})
		c.dequeue(ctx, pending, tc.last)
		c.empty.mu.Lock()
		if _, ok := c.empty.until[pending]; ok {
			c.empty.until[pending] = time.Now().Add(-time.Millisecond) // its skip is over
		}
		c.empty.mu.Unlock()
		asked := 0
		inside, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			c.dequeue(ctx, pending, func() *redis.Cmd { asked++; close(inside); <-release; return tc.last() })
		}()
		<-inside
		c.dequeue(ctx, pending, func() *redis.Cmd { asked++; return tc.last() })
		close(release)
		<-done
		if asked != tc.wantAsked {
			t.Errorf("%s: Redis asked %d times by two servers at once, want %d", tc.name, asked, tc.wantAsked)
		}
	}
}

func TestAQueueFoundEmptyIsAskedAgainByItsLength(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	c := New(rdb, Options{Retention: time.Hour})
	ctx := context.Background()
	const pending = "asynq:{q}:pending"
	scripts := 0
	script := func() *redis.Cmd {
		scripts++
		if rdb.LPop(ctx, pending).Err() != nil {
			return redis.NewCmdResult(nil, redis.Nil)
		}
		return redis.NewCmdResult("task", nil)
	}
	skipOver := func() {
		c.empty.mu.Lock()
		if _, found := c.empty.until[pending]; found {
			c.empty.until[pending] = time.Now().Add(-time.Millisecond)
		}
		c.empty.mu.Unlock()
	}
	for i, step := range []struct {
		push        bool
		wantScripts int
		wantTask    bool
	}{
		{false, 1, false}, // never asked: the script
		{false, 1, false}, // found empty, still empty: its length only
		{true, 2, true},   // found empty, a task since: the script
	} {
		if step.push {
			rdb.RPush(ctx, pending, "t1")
		}
		skipOver()
		cmd := c.dequeue(ctx, pending, script)
		if scripts != step.wantScripts || (cmd.Err() == nil) != step.wantTask {
			t.Errorf("step %d: %d scripts in all, answer %v; want %d, a task %v", i, scripts, cmd.Err(), step.wantScripts, step.wantTask)
		}
	}
}
