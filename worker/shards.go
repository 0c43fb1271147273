package worker

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/asynqadapter"
	"github.com/punctualhq/punctual/tasks"
)

// shardsTaken returns the asynq queues a worker takes tasks from, each
// with its queue's weight: the n shards of each of queues, and every other
// shard of them asynq has had a task in. A send enqueued under another
// QUEUE_SHARDS is in one of those: a change of the count loses nothing
// that is queued, whichever side changes first, once the workers restart.
func shardsTaken(rdb redis.UniversalClient, queues map[string]int, n int) (map[string]int, error) {
	if n < 0 || n > tasks.MaxShards {
		return nil, fmt.Errorf("worker: QueueShards %d: want 1 to %d", n, tasks.MaxShards)
	}
	taken := map[string]int{}
	for q, weight := range queues {
		for _, s := range tasks.Shards(q, n) {
			taken[s] = weight
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	known, err := rdb.SMembers(ctx, asynqadapter.AllQueuesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("worker: the queues asynq has: %w", err)
	}
	for _, s := range known {
		if weight, ok := queues[tasks.QueueOf(s)]; ok {
			taken[s] = weight
		}
	}
	return taken, nil
}

// siblings returns, for each asynq queue of taken, the asynq queues of
// taken that are shards of the same queue, in one order.
func siblings(taken map[string]int) func(string) []string {
	byQueue := map[string][]string{}
	for s := range taken {
		byQueue[tasks.QueueOf(s)] = append(byQueue[tasks.QueueOf(s)], s)
	}
	for _, shards := range byQueue {
		slices.Sort(shards)
	}
	return func(s string) []string { return byQueue[tasks.QueueOf(s)] }
}
