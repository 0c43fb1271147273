package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/state"
)

func setupClient(t *testing.T) *asynqClient {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	c := newAsynqClient(rdb, time.Hour, newPrereads())
	c.resultDelay = 50 * time.Millisecond
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 5s", what)
		}
	}
}

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
	waitFor(t, "written", func() bool { return c.UniversalClient.HGet(ctx, kept, "result").Val() == "r" })

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

// countHook counts the commands a client sends.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func TestAHoldIsReadWithItsTasksDequeue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := redistest.Start(t).Addr
	stateClient := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = stateClient.Close() })
	store := state.Store{Client: stateClient}

	// Three tasks: one with nothing held, one waiting for its provider,
	// one whose request went out with no answer recorded.
	until := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	if err := store.SetUntil(ctx, "waiting", until); err != nil {
		t.Fatal(err)
	}
	if err := store.Sending(ctx, "sending", "f1"); err != nil {
		t.Fatal(err)
	}
	want := map[string]state.Marks{"plain": {}, "waiting": {Until: until}, "sending": {Sending: true, For: "f1"}}

	counted := &countHook{}
	stateClient.AddHook(counted)
	read := newPrereads()
	loader := preloaded{store, read}
	var mu sync.Mutex
	got := map[string]state.Marks{}
	mux := asynq.NewServeMux()
	mux.HandleFunc("t", func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		h, err := loader.Load(ctx, id)
		if err != nil {
			return err
		}
		mu.Lock()
		got[id] = h
		mu.Unlock()
		return nil
	})
	srv := asynq.NewServer(asynqClientOpt{asynq.RedisClientOpt{Addr: addr}, time.Hour, read}, asynq.Config{Concurrency: 2, LogLevel: asynq.FatalLevel})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: addr})
	t.Cleanup(func() { _ = client.Close() })
	for id := range want {
		if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every task handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == len(want) })
	for id, h := range want {
		if !got[id].Until.Equal(h.Until) || got[id].Sending != h.Sending {
			t.Errorf("task %s: hold %+v, want %+v", id, got[id], h)
		}
	}
	if n := counted.n.Load(); n != 0 {
		t.Errorf("the handler sent %d commands of its own to read the marks, want none", n)
	}
}

func TestInAClusterTheHandlerReadsTheHoldItself(t *testing.T) {
	t.Parallel()
	c := newAsynqClient(redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}), time.Hour, newPrereads())
	t.Cleanup(func() { _ = c.Close() })
	if c.prereads != nil {
		t.Error("a Cluster client reads marks with the dequeue: their keys are in another slot")
	}
}
