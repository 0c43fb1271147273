package asynqadapter

import (
	"context"
	"testing"
	"time"

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
	c := New(rdb, Options{Retention: time.Hour, MarkKeys: twoMarks, PreRead: func(string, []any) {}})
	c.resultDelay = 50 * time.Millisecond
	return c
}

// twoMarks are mark keys of the shape the worker's are.
func twoMarks(id string) []string { return []string{"m:" + id + ":wait", "m:" + id + ":sending"} }

var touch = redis.NewScript(`return redis.call("HSET", KEYS[1], "state", "completed")`)

func TestAResultGoesWithItsTasksNextScript(t *testing.T) {
	t.Parallel()
	c := setupClient(t)
	ctx := context.Background()
	const key = "asynq:{mateo}:t:task1"
	c.UniversalClient.HSet(ctx, key, "msg", "m", "state", "active")

	c.HSet(ctx, key, "result", `{"status":200}`)
	if got := c.UniversalClient.HGet(ctx, key, "result").Val(); got != "" {
		t.Fatalf("the result was written before the completion: %q", got)
	}
	// The completion fails (its context ended): asynq tries it again,
	// and the result goes with the try that succeeds.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_ = touch.Run(cancelled, c, []string{key}).Err()
	if err := touch.Run(ctx, c, []string{key}).Err(); err != nil {
		t.Fatal(err)
	}
	if got := c.UniversalClient.HGet(ctx, key, "result").Val(); got != `{"status":200}` {
		t.Errorf("result %q after the completion, want the handler's", got)
	}
}

func TestAResultWithoutACompletionIsWrittenOnlyIfItsTaskIsThere(t *testing.T) {
	t.Parallel()
	c := setupClient(t)
	ctx := context.Background()
	const kept, deleted = "asynq:{mateo}:t:kept", "asynq:{mateo}:t:deleted"
	c.UniversalClient.HSet(ctx, kept, "msg", "m")
	c.HSet(ctx, kept, "result", "r") // no completion follows: written after resultDelay
	testwait.For(t, 5*time.Second, "written", func() bool { return c.UniversalClient.HGet(ctx, kept, "result").Val() == "r" })

	c.resultDelay = time.Hour
	c.UniversalClient.HSet(ctx, deleted, "msg", "m")
	c.HSet(ctx, deleted, "result", "r")
	c.UniversalClient.Del(ctx, deleted) // a cancel deleted it meanwhile
	c.writeHeld(deleted)                // as its timer would
	if n := c.UniversalClient.Exists(ctx, deleted).Val(); n != 0 {
		t.Errorf("the deleted task's key is back: %v", c.UniversalClient.HGetAll(ctx, deleted).Val())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.results) != 0 {
		t.Errorf("%d results still held", len(c.results))
	}
}

func TestInAClusterTheHandlerReadsTheHoldItself(t *testing.T) {
	t.Parallel()
	c := New(redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}), Options{Retention: time.Hour, MarkKeys: twoMarks, PreRead: func(string, []any) {}})
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
