package asynqadapter

// A task's marks are read with its dequeue.
//
// asynq v0.26: rdb.Dequeue (internal/rdb/rdb.go:244) runs dequeueCmd
// (rdb.go:227) on each queue in turn, KEYS pending, paused, active and
// lease of the queue, ARGV the lease's end and the task key prefix; it
// returns the task's message.
//
// We change: the dequeue runs dequeueMarks below instead, asynq's script
// with an MGET of the task's mark keys (Options.MarkKeys) added, and
// hands their values to Options.PreRead: a send costs no Redis round trip
// of the worker's own before its request. The mark keys are built in the
// script from the id it pops (ARGV[3..8] are the text around the id) and
// are not declared as KEYS: the id is not known before the script pops it,
// and a key must be declared when the call is made. Declaring them would
// take a round trip before each dequeue (LINDEX of the tail) or a guess of
// the next id, which another taker racing for the same queue makes wrong
// under load, exactly when the round trip matters. Redis runs such a
// script on a single instance; it cannot in a Cluster, where the marks are
// in another slot than the queue, so New turns this off there.
//
// We recognise it: keys of the dequeue's shape (dequeues) and the sha1 of
// v0.26's script text, asynqDequeueSHA.
//
// Not recognised (another script text): asynq's own script runs as it
// is, the handler reads the marks itself, and after 100 dequeues
// DequeueMarks is judged not applied.
//
// Worth keeping: without it the worker row of make bench went from 0.96 to
// 0.89 of plain asynq's rate (medians of five runs a side) for about the
// same Redis CPU per send (docs/benchmarks.md).

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// asynqDequeueSHA names the dequeue script of asynq v0.26, which
// dequeueWithMarks does with the task's marks read as well. A version of
// asynq with another script keeps its own, and the handler reads marks
// itself.
const asynqDequeueSHA = "a8153319360adc71cdc370107f8ab9786f204765"

// dequeueWithMarks is asynq's dequeue that also reads the marks of the task
// it takes, for the handler.
func (c *Client) dequeueWithMarks(ctx context.Context, keys []string, args []any) *redis.Cmd {
	vals, err := dequeueMarks.Run(ctx, c.UniversalClient, keys, append(args, c.markKeyParts...)...).Slice()
	if err != nil {
		return redis.NewCmdResult(nil, err)
	}
	if len(vals) != 2+markCount {
		return redis.NewCmdResult(nil, errors.New("unexpected dequeue reply"))
	}
	if id, ok := vals[1].(string); ok {
		patches[DequeueMarks].hit()
		c.preRead(id, vals[2:])
	}
	return redis.NewCmdResult(vals[0], nil)
}

// markCount is how many mark keys the dequeue reads: a fixed number, for
// a loop in the script would cost Redis more than the MGET itself.
const markCount = 3

// markKeyParts returns the marks' keys around the task id, for the dequeue
// script, which learns the id as it takes the task.
func markKeyParts(markKeys func(taskID string) []string) []any {
	var parts []any
	keys := markKeys("\x00")
	if len(keys) != markCount {
		panic(fmt.Sprintf("asynqadapter: %d mark keys, the dequeue reads %d", len(keys), markCount))
	}
	for _, k := range keys {
		before, after, _ := strings.Cut(k, "\x00")
		parts = append(parts, before, after)
	}
	return parts
}

// dequeueMarks is asynq's dequeue script (ARGV[1] the lease's end, ARGV[2]
// the task key prefix) returning the task's id and marks with its message.
var dequeueMarks = redis.NewScript(`
if redis.call("EXISTS", KEYS[2]) == 0 then
	local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
	if id then
		local key = ARGV[2] .. id
		redis.call("HSET", key, "state", "active")
		redis.call("HDEL", key, "pending_since")
		redis.call("ZADD", KEYS[4], ARGV[1], id)
		local marks = redis.call("MGET", ARGV[3] .. id .. ARGV[4], ARGV[5] .. id .. ARGV[6], ARGV[7] .. id .. ARGV[8])
		return {redis.call("HGET", key, "msg"), id, marks[1], marks[2], marks[3]}
	end
end
return nil`)

// dequeues reports whether keys are those of asynq's dequeue script,
// pending, paused, active and lease of one queue, and returns the first.
func dequeues(keys []string) (pending string, ok bool) {
	if len(keys) != 4 || !isQueueKey(keys[0], "pending") || !isQueueKey(keys[1], "paused") || !isQueueKey(keys[2], "active") || !isQueueKey(keys[3], "lease") {
		return "", false
	}
	return keys[0], true
}
