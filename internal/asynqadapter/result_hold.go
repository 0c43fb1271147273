package asynqadapter

// A send's result is written with asynq's completion of its task.
//
// asynq v0.26: ResultWriter.Write (asynq.go:571) calls rdb.WriteResult
// (internal/rdb/rdb.go:1550), an HSET of the task key's "result" field in
// a Redis round trip of its own; the completion that follows
// (rdb.MarkAsComplete, rdb.go:448, or Done, Retry, Archive) is a script
// whose keys include the task key.
//
// We change: the HSET is held, and sent in one pipeline with the next
// script whose keys include the task key (its completion), in the same
// round trip; or, when none comes within resultDelay, written on its own
// if the task is still there. A completion that fails gives the result
// back to be held again (asynq tries the completion again).
//
// We recognise it: HSet(key, "result", data) with key a task key
// (asynq:{q}:t:id), then a script with that key among its keys.
//
// Not recognised: a result whose completion never names its task key is
// written resultDelay late; after 10 such results and none sent with a
// completion, ResultWithCompletion is judged not applied. A result write
// of another shape goes to Redis at once, as asynq meant.
//
// Worth keeping: written at once, a send's result costs a round trip of
// its own, and the worker row of make bench went from 0.96 to 0.85 of
// plain asynq's rate and Redis CPU per send from 1.20 to 1.28 of its
// (medians of five runs a side; docs/benchmarks.md).

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

const resultDelay = 10 * time.Second

// heldResult is a result written by a handler and not yet sent to Redis.
type heldResult struct {
	data  any
	timer *time.Timer
}

// HSet keeps a task's result until its completion; other writes go at once.
func (c *Client) HSet(ctx context.Context, key string, values ...any) *redis.IntCmd {
	if len(values) != 2 || values[0] != "result" || !isTaskKey(key) {
		return c.UniversalClient.HSet(ctx, key, values...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.results[key]; old != nil {
		old.timer.Stop()
	}
	c.results[key] = &heldResult{data: values[1], timer: time.AfterFunc(c.resultDelay, func() { c.writeHeld(key) })}
	return redis.NewIntResult(1, nil)
}

// take returns and forgets the result held for a task key among keys.
func (c *Client) take(keys []string) (string, *heldResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.results) == 0 {
		return "", nil
	}
	for _, k := range keys {
		if r := c.results[k]; r != nil {
			delete(c.results, k)
			r.timer.Stop()
			patches[ResultWithCompletion].hit()
			return k, r
		}
	}
	return "", nil
}

// keep keeps a result again when its write failed with the script it went
// with (asynq tries the script again), unless a newer one is held.
func (c *Client) keep(key string, r *heldResult, written *redis.IntCmd) {
	if written.Err() == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.results[key] == nil {
		r.timer = time.AfterFunc(c.resultDelay, func() { c.writeHeld(key) })
		c.results[key] = r
	}
}

// writeHeld writes a result whose completion did not come, if its task is
// still there: a task deleted meanwhile must not come back as a result.
func (c *Client) writeHeld(key string) {
	c.mu.Lock()
	r := c.results[key]
	delete(c.results, key)
	c.mu.Unlock()
	if r != nil {
		patches[ResultWithCompletion].missed()
		_ = writeIfThere.Run(context.Background(), c.UniversalClient, []string{key}, r.data).Err()
	}
}

var writeIfThere = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
return redis.call("HSET", KEYS[1], "result", ARGV[1])`)
