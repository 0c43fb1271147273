package asynqadapter

// A send's result is kept where punctual keeps it, written with asynq's
// completion of its task.
//
// asynq v0.26: ResultWriter.Write (asynq.go:571) calls rdb.WriteResult
// (internal/rdb/rdb.go:1550), an HSET of the task key's "result" field in
// a Redis round trip of its own; the completion that follows is a script
// whose keys include the task key: rdb.Done (rdb.go:346) for a task
// enqueued with no retention, as punctual enqueues, which deletes the
// task and the result with it, or rdb.MarkAsComplete (rdb.go:448), which
// keeps the whole task (or Retry, Archive).
//
// We change: with Options.WriteResult, the HSET is held and not sent;
// WriteResult's commands (punctual's record of the send) are sent in one
// transaction (MULTI/EXEC) with the next script whose keys include the
// task key (its completion), before it and in the same round trip: Redis
// runs both or, when it refuses a command (a write at maxmemory), neither.
// In a Redis Cluster, where they are in another slot than the task, they
// go in a transaction of their own just before it, and the completion only
// once they are written. Either way the record is there before the task is
// gone. A completion that fails keeps the result held (asynq tries a failed
// completion again until its lease ends, with a live context: end_retry.go). When no such script comes
// within resultDelay, the commands are written on their own, every
// resultDelay until Redis takes them.
//
// We recognise it: HSet(key, "result", data) with key a task key
// (asynq:{q}:t:id), then a script with that key among its keys.
//
// Not recognised: a result whose completion never names its task key is
// written resultDelay late, and the task's id is free meanwhile; after 10
// such results and none sent with a completion, ResultWithCompletion is
// judged not applied. A result that asynq writes some other way than that
// HSET is not seen at all: it goes to asynq's task, which Done deletes,
// and the send's record is lost; TestContractAResultIsKeptWhereWriteResultSays
// fails then.
//
// Worth keeping: written at once, a send's result costs a round trip of
// its own, and the worker row of make bench went from 0.96 to 0.85 of
// plain asynq's rate and Redis CPU per send from 1.20 to 1.28 of its
// (medians of five runs a side, when a completion kept the task;
// docs/benchmarks.md). The record goes with the completion for more than
// speed now: in one transaction with it.

import (
	"cmp"
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

// HSet keeps a task's result until its completion; other writes go at
// once, and so do results when punctual keeps none (Options.WriteResult).
func (c *Client) HSet(ctx context.Context, key string, values ...any) *redis.IntCmd {
	if c.writeResult == nil || len(values) != 2 || values[0] != "result" || !isTaskKey(key) {
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

// withResult runs script, the completion of the task of key, with its
// result r written before it, and only if it is.
func (c *Client) withResult(ctx context.Context, key string, r *heldResult, script func(redis.Scripter) *redis.Cmd) *redis.Cmd {
	tx := c.TxPipeline()
	written := c.writeResult(ctx, tx, taskIDOf(key), resultBytes(r.data))
	if c.cluster {
		if _, err := tx.Exec(ctx); err != nil {
			c.keep(key, r, err)
			return redis.NewCmdResult(nil, err)
		}
		return script(c.UniversalClient)
	}
	cmd := script(tx)
	_, _ = tx.Exec(ctx)
	c.keep(key, r, cmp.Or(written.Err(), cmd.Err()))
	return cmd
}

// resultBytes is a result as asynq gives it ([]byte), or as a string.
func resultBytes(data any) []byte {
	switch d := data.(type) {
	case []byte:
		return d
	case string:
		return []byte(d)
	}
	return nil
}

// keep keeps a result again when it or the script it went with failed
// (err: asynq tries the script again), unless a newer one is held.
func (c *Client) keep(key string, r *heldResult, err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.results[key] == nil {
		r.timer = time.AfterFunc(c.resultDelay, func() { c.writeHeld(key) })
		c.results[key] = r
	}
}

// writeHeld writes a result whose completion did not come, or failed:
// asynq's own tries of a failed completion end with its lease, after which
// the task comes back to a worker, which must find the record then. A write
// that fails is tried again resultDelay later.
func (c *Client) writeHeld(key string) {
	c.mu.Lock()
	r := c.results[key]
	delete(c.results, key)
	c.mu.Unlock()
	if r != nil {
		patches[ResultWithCompletion].missed()
		ctx := context.Background()
		tx := c.TxPipeline()
		c.writeResult(ctx, tx, taskIDOf(key), resultBytes(r.data))
		_, err := tx.Exec(ctx)
		c.keep(key, r, err)
	}
}
