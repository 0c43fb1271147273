package asynqadapter

// A queue found empty is not asked again for emptyFor.
//
// asynq v0.26: processor.exec (processor.go:176) calls rdb.Dequeue
// (internal/rdb/rdb.go:244), which runs the dequeue script on each queue
// in turn, one Redis round trip each, for every task it takes: with the
// default three queues and one busy, most tasks cost a round trip or two
// to the empty ones.
//
// We change: a dequeue answered nil (the queue is empty or paused) makes
// the next dequeues of that queue, by any server of the worker, answer nil
// without Redis for emptyFor. A task enqueued into an empty queue waits
// emptyFor longer at most: 50 ms, as long as asynq's own wait between
// looks when every queue is empty (the worker's TaskCheckInterval), and
// well within the Lead a scheduled task is handed over with. A worker
// holds the tasks it takes, so under load most queues are empty most of
// the time, and a queue split into shards (QUEUE_SHARDS) would otherwise
// cost Redis a dequeue per shard every few milliseconds. When the time is
// up, one server asks again, and first only the list's length (an LLEN,
// not the script's three commands). BenchmarkDrain
// and the bench's shard-commands row show the Redis commands a send costs.
//
// We recognise it: a script call whose keys are pending, paused, active and
// lease of one queue (dequeues).
//
// Not recognised: every dequeue goes to Redis, and marks are not read
// with it either; after 100 script calls with no dequeue recognised,
// EmptyQueueSkip is judged not applied.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

const emptyFor = 50 * time.Millisecond

// emptyQueues holds until when each queue's pending list is taken as
// empty. The servers of one worker share it: a queue one of them found
// empty is not asked by the others either.
type emptyQueues struct {
	mu    sync.Mutex
	until map[string]time.Time // by pending key
}

func newEmptyQueues() *emptyQueues { return &emptyQueues{until: map[string]time.Time{}} }

// dequeue runs asynq's dequeue script on a queue's pending list, unless
// the queue was found empty less than emptyFor ago. A queue found empty
// before is asked its list's length first: an LLEN costs Redis a
// fraction of the script, and most such queues are still empty.
func (c *Client) dequeue(ctx context.Context, pending string, run func() *redis.Cmd) *redis.Cmd {
	p := patches[EmptyQueueSkip]
	p.recognise()
	e := c.empty
	e.mu.Lock()
	now := time.Now()
	until, wasEmpty := e.until[pending]
	if now.Before(until) {
		e.mu.Unlock()
		p.hit()
		return redis.NewCmdResult(nil, redis.Nil)
	}
	if wasEmpty {
		// A queue found empty is asked again by one server: the others,
		// coming at the same moment, take it as empty meanwhile. A queue
		// that had a task is asked by all at once.
		e.until[pending] = now.Add(emptyFor)
	}
	e.mu.Unlock()
	cmd := redis.NewCmdResult(nil, redis.Nil)
	if !wasEmpty || c.holdsTasks(ctx, pending) {
		cmd = run()
	}
	e.mu.Lock()
	if errors.Is(cmd.Err(), redis.Nil) {
		e.until[pending] = time.Now().Add(emptyFor)
	} else {
		delete(e.until, pending)
	}
	e.mu.Unlock()
	return cmd
}

// holdsTasks reports whether a queue's pending list may hold a task: its
// length is not 0, or Redis did not say.
func (c *Client) holdsTasks(ctx context.Context, pending string) bool {
	n, err := c.UniversalClient.LLen(ctx, pending).Result()
	return err != nil || n > 0
}
