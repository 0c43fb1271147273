package worker

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/punctualhq/punctual/state"
	"github.com/redis/go-redis/v9"
)

// asynqClient is the Redis client the worker gives asynq, for its server
// and the monitor. Through it:
//
//   - asynq keeps every archived task for the archive retention. Its
//     archive scripts keep each queue's archive to its newest 10,000 tasks
//     and its last 90 days, deleting the others for good, so that a refused
//     send would vanish with nobody told; they take both limits as
//     arguments, which the client rewrites: nothing is trimmed by count,
//     and by age only past the retention.
//   - a send's result is written with asynq's completion of its task, in
//     the same round trip, instead of in one of its own: the handler's
//     write is held until the next script on the task's key (the
//     completion), or resultDelay when none comes.
//   - a queue found empty is not asked again for emptyFor. asynq tries
//     each queue in turn for every task it takes, one round trip each: with
//     the default three queues and one busy, most tasks cost a round trip
//     or two to the empty ones. A task enqueued into an empty queue waits
//     emptyFor longer at most; asynq itself polls every 50 ms when all are
//     empty. BenchmarkDrain shows the Redis commands a send costs.
//   - a task's marks (state.Marks: its wait and sending mark) are read
//     with its dequeue, in asynq's dequeue script, and kept in prereads for the
//     handler: a send costs no round trip of the worker's own before its
//     request. Not in a Redis Cluster, where the marks' keys are in
//     another slot than the queue's: the handler reads them itself there.
type asynqClient struct {
	redis.UniversalClient
	retention time.Duration
	prereads  *prereads // nil: marks are not read with the dequeue

	// resultDelay is how long a result waits for its task's completion.
	resultDelay time.Duration

	mu      sync.Mutex
	results map[string]*heldResult // by task key
	empty   map[string]time.Time   // until when a queue's pending list is taken as empty
}

// heldResult is a result written by a handler and not yet sent to Redis.
type heldResult struct {
	data  any
	timer *time.Timer
}

const (
	asynqArchiveSize = 10000
	asynqArchiveAge  = 90 * 24 * time.Hour
	resultDelay      = 10 * time.Second
	emptyFor         = 10 * time.Millisecond
)

func newAsynqClient(c redis.UniversalClient, retention time.Duration, h *prereads) *asynqClient {
	if _, cluster := c.(*redis.ClusterClient); cluster {
		h = nil
	}
	return &asynqClient{UniversalClient: c, retention: retention, prereads: h, resultDelay: resultDelay, results: map[string]*heldResult{}, empty: map[string]time.Time{}}
}

// asynqClientOpt makes asynqClients.
type asynqClientOpt struct {
	asynq.RedisConnOpt
	retention time.Duration
	prereads  *prereads
}

// MakeRedisClient returns an asynqClient.
func (o asynqClientOpt) MakeRedisClient() any {
	return newAsynqClient(o.RedisConnOpt.MakeRedisClient().(redis.UniversalClient), o.retention, o.prereads)
}

// HSet keeps a task's result until its completion; other writes go at once.
func (c *asynqClient) HSet(ctx context.Context, key string, values ...any) *redis.IntCmd {
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

func (c *asynqClient) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return c.script(ctx, sha, keys, args, func(s redis.Scripter, args []any) *redis.Cmd { return s.EvalSha(ctx, sha, keys, args...) })
}

func (c *asynqClient) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	sum := sha1.Sum([]byte(script))
	return c.script(ctx, hex.EncodeToString(sum[:]), keys, args, func(s redis.Scripter, args []any) *redis.Cmd { return s.Eval(ctx, script, keys, args...) })
}

// script runs one of asynq's scripts, named by its sha, with run: a
// dequeue unless its queue was just found empty, archive limits
// rewritten, and a result held for the task in the same round trip.
func (c *asynqClient) script(ctx context.Context, sha string, keys []string, args []any, run func(redis.Scripter, []any) *redis.Cmd) *redis.Cmd {
	if pending, ok := dequeues(keys); ok {
		return c.dequeue(pending, func() *redis.Cmd {
			if c.prereads == nil || sha != asynqDequeueSHA {
				return run(c.UniversalClient, args)
			}
			return c.dequeueWithMarks(ctx, keys, args)
		})
	}
	args = c.limits(keys, args)
	key, result := c.take(keys)
	if result == nil {
		return run(c.UniversalClient, args)
	}
	pipe := c.Pipeline()
	written := pipe.HSet(ctx, key, "result", result.data)
	cmd := run(pipe, args)
	_, _ = pipe.Exec(ctx)
	c.keep(key, result, written)
	return cmd
}

// dequeue runs asynq's dequeue script on a queue's pending list, unless
// the queue was found empty less than emptyFor ago.
func (c *asynqClient) dequeue(pending string, run func() *redis.Cmd) *redis.Cmd {
	c.mu.Lock()
	until := c.empty[pending]
	c.mu.Unlock()
	if time.Now().Before(until) {
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

// asynqDequeueSHA names the dequeue script of asynq v0.26, which
// dequeueWithMarks does with the task's marks read as well. A version of
// asynq with another script keeps its own, and the handler reads marks
// itself.
const asynqDequeueSHA = "a8153319360adc71cdc370107f8ab9786f204765"

// dequeueWithMarks is asynq's dequeue that also reads the marks of the task
// it takes, for the handler.
func (c *asynqClient) dequeueWithMarks(ctx context.Context, keys []string, args []any) *redis.Cmd {
	vals, err := dequeueMarks.Run(ctx, c.UniversalClient, keys, append(args, markKeyParts...)...).Slice()
	if err != nil {
		return redis.NewCmdResult(nil, err)
	}
	if len(vals) != 4 {
		return redis.NewCmdResult(nil, errors.New("unexpected dequeue reply"))
	}
	if id, ok := vals[1].(string); ok {
		if h, err := state.ParseMarks(vals[2:]); err == nil {
			c.prereads.put(id, h)
		}
	}
	return redis.NewCmdResult(vals[0], nil)
}

// markKeyParts are the marks' keys around the task id: for the dequeue
// script, which learns the id as it takes the task.
var markKeyParts = func() []any {
	var parts []any
	for _, k := range state.MarkKeys("\x00") {
		before, after, _ := strings.Cut(k, "\x00")
		parts = append(parts, before, after)
	}
	return parts
}()

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
		local marks = redis.call("MGET", ARGV[3] .. id .. ARGV[4], ARGV[5] .. id .. ARGV[6])
		return {redis.call("HGET", key, "msg"), id, marks[1], marks[2]}
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

func isQueueKey(key, name string) bool {
	return strings.HasPrefix(key, "asynq:{") && strings.HasSuffix(key, "}:"+name)
}

// take returns and forgets the result held for a task key among keys.
func (c *asynqClient) take(keys []string) (string, *heldResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.results) == 0 {
		return "", nil
	}
	for _, k := range keys {
		if r := c.results[k]; r != nil {
			delete(c.results, k)
			r.timer.Stop()
			return k, r
		}
	}
	return "", nil
}

// keep keeps a result again when its write failed with the script it went
// with (asynq tries the script again), unless a newer one is held.
func (c *asynqClient) keep(key string, r *heldResult, written *redis.IntCmd) {
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
func (c *asynqClient) writeHeld(key string) {
	c.mu.Lock()
	r := c.results[key]
	delete(c.results, key)
	c.mu.Unlock()
	if r != nil {
		_ = writeIfThere.Run(context.Background(), c.UniversalClient, []string{key}, r.data).Err()
	}
}

var writeIfThere = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
return redis.call("HSET", KEYS[1], "result", ARGV[1])`)

// limits returns args with asynq's archive limits replaced, when the
// script archives: a key of it is an archive, and its arguments hold the
// cutoff (a Unix time 90 days ago) followed by the size limit.
func (c *asynqClient) limits(keys []string, args []any) []any {
	if !archives(keys) {
		return args
	}
	now := time.Now()
	for i := 1; i < len(args); i++ {
		size, ok := args[i].(int)
		cutoff, isTime := args[i-1].(int64)
		if !ok || !isTime || size != asynqArchiveSize || math.Abs(float64(cutoff-now.Add(-asynqArchiveAge).Unix())) > 7200 {
			continue
		}
		out := append([]any(nil), args...)
		out[i-1], out[i] = now.Add(-c.retention).Unix(), math.MaxInt32
		return out
	}
	return args
}

func archives(keys []string) bool {
	for _, k := range keys {
		if isQueueKey(k, "archived") {
			return true
		}
	}
	return false
}

// isTaskKey reports whether key is an asynq task's: asynq:{queue}:t:id.
func isTaskKey(key string) bool {
	return strings.HasPrefix(key, "asynq:{") && strings.Contains(key, "}:t:")
}
