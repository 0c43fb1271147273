// Package asynqadapter holds everything punctual knows of asynq v0.26's
// internals: the Redis client it gives asynq, which recognises some of
// asynq's script calls and changes them (one file per change), asynq's key
// layout, the field of its task message that holds the payload, the retry
// offset, and the extra servers a worker runs to take tasks in several
// loops. Nothing else in punctual relies on how asynq works inside.
//
// A change that rests on recognising asynq's calls reports whether it did
// (Applied): an asynq whose calls are not recognised runs as it is, the
// change lost, and the first calls that should have been recognised and
// were not are logged once, naming the change and what is lost.
package asynqadapter

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Options configure the Redis client given to asynq.
type Options struct {
	// Retention is how long an archived task is kept (ARCHIVE_RETENTION).
	Retention time.Duration
	// MarkKeys returns the keys of a task's marks, read with its
	// dequeue and handed to PreRead; nil reads none.
	MarkKeys func(taskID string) []string
	// PreRead receives the values of MarkKeys of each task dequeued, nil
	// where a key is not set, before the task's handler runs.
	PreRead func(taskID string, vals []any)
	// WriteResult adds to pipe the commands that keep a task's result (a
	// handler's ResultWriter.Write) where punctual keeps it, and returns the
	// one whose failure means it is not kept; they are sent with the task's
	// completion (result_hold.go). Nil: a result goes to asynq's task at
	// once, as asynq writes it.
	WriteResult func(ctx context.Context, pipe redis.Pipeliner, taskID string, result []byte) redis.Cmder
	// Shards returns the asynq queues taken as one with queue, queue among
	// them: the shards of its queue (QUEUE_SHARDS) that the worker takes
	// (shard_dequeue.go). Nil, or nil for a queue: each queue on its own.
	Shards func(queue string) []string
	// Logger says once when a change is not recognised; nil says nothing.
	Logger *zap.Logger

	// empty is shared by the Clients of one ConnOpt's servers (Servers);
	// nil: a Client has its own.
	empty *emptyQueues
}

// ConnOpt makes the Redis clients asynq is given: asynq's own connection,
// wrapped in a Client with Options.
type ConnOpt struct {
	asynq.RedisConnOpt
	Options
}

// MakeRedisClient returns a Client.
func (o ConnOpt) MakeRedisClient() any {
	return New(o.RedisConnOpt.MakeRedisClient().(redis.UniversalClient), o.Options)
}

// Client is the Redis client asynq is given: it runs asynq's commands,
// with the changes of this package's files.
type Client struct {
	redis.UniversalClient
	retention time.Duration
	// markKeyParts are the marks' keys around the task id, for the dequeue
	// script; nil when marks are not read with the dequeue.
	markKeyParts []any
	preRead      func(string, []any)

	// writeResult keeps a result where punctual does (Options.WriteResult);
	// nil when results go to asynq. resultDelay is how long a result
	// waits for its task's completion. cluster is true in a Redis Cluster.
	writeResult func(context.Context, redis.Pipeliner, string, []byte) redis.Cmder
	resultDelay time.Duration
	cluster     bool

	mu      sync.Mutex
	results map[string]*heldResult // by task key
	empty   *emptyQueues
	shards  func(string) []string
}

// New returns a Client running c's commands. Marks are not read with the
// dequeue in a Redis Cluster, where their keys are in another slot than
// the queue's.
func New(c redis.UniversalClient, o Options) *Client {
	if o.Logger != nil {
		logger.Store(o.Logger)
	}
	_, cluster := c.(*redis.ClusterClient)
	cl := &Client{UniversalClient: c, retention: o.Retention, writeResult: o.WriteResult, resultDelay: resultDelay, cluster: cluster,
		results: map[string]*heldResult{}, empty: o.empty, shards: o.Shards}
	if cl.empty == nil {
		cl.empty = newEmptyQueues()
	}
	if !cluster && o.MarkKeys != nil && o.PreRead != nil {
		cl.markKeyParts, cl.preRead = markKeyParts(o.MarkKeys), o.PreRead
	}
	return cl
}

// EvalSha runs one of asynq's scripts by its hash, changed where this
// package changes it.
func (c *Client) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	ctx, cancel := liveEnd(ctx, keys)
	defer cancel()
	return c.script(ctx, sha, keys, args, func(s redis.Scripter, keys []string, args []any) *redis.Cmd {
		return s.EvalSha(ctx, sha, keys, args...)
	})
}

// Eval runs one of asynq's scripts, changed where this package changes it.
func (c *Client) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	sum := sha1.Sum([]byte(script))
	ctx, cancel := liveEnd(ctx, keys)
	defer cancel()
	return c.script(ctx, hex.EncodeToString(sum[:]), keys, args, func(s redis.Scripter, keys []string, args []any) *redis.Cmd {
		return s.Eval(ctx, script, keys, args...)
	})
}

// scriptRun runs a script with keys and args, on s.
type scriptRun func(s redis.Scripter, keys []string, args []any) *redis.Cmd

// script runs one of asynq's scripts, named by its sha, with run: a
// dequeue unless its queue was just found empty, archive limits
// rewritten, and a result held for the task in the same round trip.
func (c *Client) script(ctx context.Context, sha string, keys []string, args []any, run scriptRun) *redis.Cmd {
	pending, ok := dequeues(keys)
	checkLayout(ok, keys, args)
	if ok {
		return c.dequeueShards(ctx, pending, keys, args, func(keys []string, args []any) *redis.Cmd {
			if c.markKeyParts == nil {
				return run(c.UniversalClient, keys, args)
			}
			if sha != asynqDequeueSHA {
				patches[DequeueMarks].missed()
				return run(c.UniversalClient, keys, args)
			}
			patches[DequeueMarks].recognise()
			return c.dequeueWithMarks(ctx, keys, args)
		})
	}
	patches[EmptyQueueSkip].missed()
	args = c.limits(keys, args)
	if ctx.Err() != nil {
		// Such a call never reaches Redis: asynq's try again of a failed
		// completion past the task's deadline, with the first try's
		// context (end_retry.go revives it before). The result stays
		// held, to be written on its own.
		return run(c.UniversalClient, keys, args)
	}
	key, result := c.take(keys)
	if result == nil {
		return run(c.UniversalClient, keys, args)
	}
	return c.withResult(ctx, key, result, func(s redis.Scripter) *redis.Cmd { return run(s, keys, args) })
}
