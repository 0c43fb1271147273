package asynqadapter

// The shards of a queue are asked as one queue.
//
// asynq v0.26: processor.exec (processor.go:175) orders the worker's
// queues for each dequeue by a shuffle weighted by their priorities
// (processor.queues, processor.go:400), and rdb.Dequeue
// (internal/rdb/rdb.go:244) takes the first task of the first queue in
// that order that has one. Each shard of a queue (QUEUE_SHARDS) is an
// asynq queue of its queue's weight, so a queue whose sends come from many
// accounts (many shards with tasks) would be taken from many times as
// often as one of the same weight whose sends come from one account.
//
// We change: a dequeue asked of a shard is asked of its sibling shards
// (Options.Shards) in turn, from the one asked, skipping those found empty
// (empty_skip.go), until one gives a task. The order picks a queue by its
// weight, and any of its shards with a task serves it. asynq handles the
// task by the queue its message names (msg.Queue), the shard it came from.
//
// We recognise it: the dequeue (dequeues); the queue's keys and the task
// key prefix (ARGV[2]) are rewritten for the sibling.
//
// Not recognised: each shard is asked on its own, and a queue's share of
// the worker follows its weight times its shards with tasks (the
// EmptyQueueSkip change says so).

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// dequeueShards runs run, asynq's dequeue, on the queue of the pending key
// asked and then on each of its shards, until one gives a task.
func (c *Client) dequeueShards(ctx context.Context, pending string, keys []string, args []any, run func(keys []string, args []any) *redis.Cmd) *redis.Cmd {
	asked := queueOfKey(pending)
	cmd := c.dequeue(ctx, pending, func() *redis.Cmd { return run(keys, args) })
	if c.shards == nil || !errors.Is(cmd.Err(), redis.Nil) {
		return cmd
	}
	shards := c.shards(asked)
	at := max(slices.Index(shards, asked), 0)
	for i := 1; i < len(shards); i++ {
		q := shards[(at+i)%len(shards)]
		k, a := queueKeys(keys, asked, q), append([]any(nil), args...)
		a[1] = QueueKeyPrefix(q) + "t:"
		if cmd := c.dequeue(ctx, k[0], func() *redis.Cmd { return run(k, a) }); !errors.Is(cmd.Err(), redis.Nil) {
			if cmd.Err() == nil {
				patches[ShardsAsOne].hit()
			}
			return cmd
		}
	}
	return cmd
}

// queueOfKey returns the queue of one of its keys: asynq:{queue}:...
func queueOfKey(key string) string {
	q, _, _ := strings.Cut(strings.TrimPrefix(key, "asynq:{"), "}:")
	return q
}

// queueKeys returns keys, each of queue from, as the keys of queue to.
func queueKeys(keys []string, from, to string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = QueueKeyPrefix(to) + strings.TrimPrefix(k, QueueKeyPrefix(from))
	}
	return out
}
