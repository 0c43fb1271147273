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
// the next dequeues of that queue answer nil without Redis for emptyFor. A
// task enqueued into an empty queue waits emptyFor longer at most; asynq
// itself polls every 50 ms when all are empty. BenchmarkDrain shows the
// Redis commands a send costs.
//
// We recognise it: a script call whose keys are pending, paused, active and
// lease of one queue (dequeues).
//
// Not recognised: every dequeue goes to Redis, and marks are not read
// with it either; after 100 script calls with no dequeue recognised,
// EmptyQueueSkip is judged not applied.

import (
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

const emptyFor = 10 * time.Millisecond

// dequeue runs asynq's dequeue script on a queue's pending list, unless
// the queue was found empty less than emptyFor ago.
func (c *Client) dequeue(pending string, run func() *redis.Cmd) *redis.Cmd {
	p := patches[EmptyQueueSkip]
	p.recognise()
	c.mu.Lock()
	until := c.empty[pending]
	c.mu.Unlock()
	if time.Now().Before(until) {
		p.hit()
		return redis.NewCmdResult(nil, redis.Nil)
	}
	cmd := run()
	if errors.Is(cmd.Err(), redis.Nil) {
		c.mu.Lock()
		c.empty[pending] = time.Now().Add(emptyFor)
		c.mu.Unlock()
	}
	return cmd
}
