package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/testwait"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/asynqadapter"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/state"
)

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
	srv := asynq.NewServer(asynqadapter.ConnOpt{RedisConnOpt: asynq.RedisClientOpt{Addr: addr}, Options: asynqadapter.Options{Retention: time.Hour, MarkKeys: state.MarkKeys, PreRead: read.preRead}}, asynq.Config{Concurrency: 2, LogLevel: asynq.FatalLevel})
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
	testwait.For(t, 5*time.Second, "every task handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == len(want) })
	for id, h := range want {
		if !got[id].Until.Equal(h.Until) || got[id].Sending != h.Sending {
			t.Errorf("task %s: hold %+v, want %+v", id, got[id], h)
		}
	}
	if n := counted.n.Load(); n != 0 {
		t.Errorf("the handler sent %d commands of its own to read the marks, want none", n)
	}
}
