package worker

// asynq v0.26 writes a task's end (Done, MarkAsComplete, Retry, Archive:
// processor.go:284-392) with a context it cancels on return, and, when
// Redis refuses the write, queues a closure that writes it again with
// that same context (syncer.go:75-84, every 5 s until the task's lease
// ends). Every such try fails at once with context.Canceled: a task whose
// end could not be written while its Redis (a Cluster's master, say) was
// restarting stays active until its lease ends and asynq's recoverer,
// once a minute, puts it back: a send done, or due again, a minute and
// more late. syncedConn gives those writes a context that is not
// cancelled, with the same deadline: the first try after Redis is back
// writes the end.

import (
	"context"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// syncedConn is a connection whose client runs asynq's writes of a task's
// end even with the cancelled context of a try again.
type syncedConn struct{ asynq.RedisConnOpt }

// MakeRedisClient returns the client of the connection, wrapped.
func (o syncedConn) MakeRedisClient() any {
	return syncedClient{o.RedisConnOpt.MakeRedisClient().(redis.UniversalClient)}
}

// syncedClient runs asynq's scripts that end an active task with a
// context whose cancellation is ignored until its deadline.
type syncedClient struct{ redis.UniversalClient }

// EvalSha runs a script by its hash, with a live context if it ends a task.
func (c syncedClient) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	ctx, cancel := uncancelled(ctx, keys)
	defer cancel()
	return c.UniversalClient.EvalSha(ctx, sha, keys, args...)
}

// Eval runs a script, with a live context if it ends a task.
func (c syncedClient) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	ctx, cancel := uncancelled(ctx, keys)
	defer cancel()
	return c.UniversalClient.Eval(ctx, script, keys, args...)
}

// uncancelled returns ctx, or, when ctx is cancelled before its deadline
// and keys are those of a script that ends an active task, a context that
// is not, with the same deadline.
func uncancelled(ctx context.Context, keys []string) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if ctx.Err() != context.Canceled || !ok || !time.Now().Before(deadline) || !endsActive(keys) {
		return ctx, func() {}
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// endsActive reports whether keys are those of a script that takes a task
// off its queue's active list: that list's key, then its lease's.
func endsActive(keys []string) bool {
	for i := 1; i < len(keys); i++ {
		if isQueueKey(keys[i-1], "active") && isQueueKey(keys[i], "lease") {
			return true
		}
	}
	return false
}

// isQueueKey reports whether key is asynq's key name of a queue:
// asynq:{queue}:name.
func isQueueKey(key, name string) bool {
	return strings.HasPrefix(key, "asynq:{") && strings.HasSuffix(key, "}:"+name)
}
