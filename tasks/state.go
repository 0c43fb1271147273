package tasks

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// State is what the project keeps of a task beside asynq, each in a key of
// its own under the task id's hash tag (one Cluster slot per task):
//
//   - wait: the exact end of a wait a provider asked for (asynq keeps retry
//     times in whole seconds, so the task comes back a little early and is
//     held until then);
//   - cancel: a cancel asked while a worker holds the task;
//   - sending: a request of an at-most-once provider that may have reached
//     it with no answer recorded;
//   - queue: the queue that holds the task of an idempotency key, which
//     makes a key unique across queues.
//
// Every key expires on its own.
type State struct {
	Client redis.UniversalClient
}

// Hold is what a worker reads of a task before it sends it.
type Hold struct {
	// Until is the end of the task's wait; zero when none.
	Until time.Time
	// Sending is true when an earlier try wrote its request and no answer
	// was recorded: its worker died or was stopped mid-request.
	Sending bool
}

// How long the keys live. A cancel lives as long as the producer waits for
// the worker to drop the task; a sending mark until a stalled worker's task
// has long come back (a delivered send's, until asynq's recoverer has had
// its task); a key's queue past the default archive retention.
const (
	cancelTTL    = time.Minute
	sendingTTL   = 24 * time.Hour
	deliveredTTL = 10 * time.Minute
	waitTTL      = time.Hour
	queueTTL     = 100 * 24 * time.Hour
)

func stateKey(taskID, name string) string { return "punctual:{" + taskID + "}:" + name }

// Load reads a task's wait and sending mark in one round trip.
func (s State) Load(ctx context.Context, taskID string) (Hold, error) {
	vals, err := s.Client.MGet(ctx, stateKey(taskID, "wait"), stateKey(taskID, "sending")).Result()
	if err != nil {
		return Hold{}, err
	}
	var h Hold
	if v, ok := vals[0].(string); ok {
		us, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Hold{}, errors.New("malformed wait")
		}
		h.Until = time.UnixMicro(us)
	}
	h.Sending = vals[1] != nil
	return h, nil
}

// SetUntil records that the task must wait until t, to the microsecond
// (rounded up, so that no try comes before t), for an hour past t.
func (s State) SetUntil(ctx context.Context, taskID string, t time.Time) error {
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return s.Client.Set(ctx, stateKey(taskID, "wait"), strconv.FormatInt(us, 10), time.Until(t)+waitTTL).Err()
}

// Cancel asks the worker holding the task not to send it.
func (s State) Cancel(ctx context.Context, taskID string) error {
	return s.Client.Set(ctx, stateKey(taskID, "cancel"), "1", cancelTTL).Err()
}

// TakeCancel reports whether a cancel was asked, and clears it: a cancel
// applies to the task held now, never to a later one with the same id.
func (s State) TakeCancel(ctx context.Context, taskID string) (bool, error) {
	err := s.Client.GetDel(ctx, stateKey(taskID, "cancel")).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}

// ClearCancel withdraws a cancel that was not taken: the send had started.
func (s State) ClearCancel(ctx context.Context, taskID string) error {
	return s.Client.Del(ctx, stateKey(taskID, "cancel")).Err()
}

// Sending records that a request of the task is about to be written.
func (s State) Sending(ctx context.Context, taskID string) error {
	return s.Client.Set(ctx, stateKey(taskID, "sending"), "1", sendingTTL).Err()
}

// Sent clears the sending mark: the try has its outcome. The mark of a
// delivered send is kept a few minutes more instead: asynq records the
// completion after the handler returns, and a worker that dies before it
// leaves the send to come back, when it must not go again.
func (s State) Sent(ctx context.Context, taskID string, delivered bool) error {
	if delivered {
		return s.Client.PExpire(ctx, stateKey(taskID, "sending"), deliveredTTL).Err()
	}
	return s.Client.Del(ctx, stateKey(taskID, "sending")).Err()
}

// Forget removes every record of a task that will not be sent: its key is
// free for a new send.
func (s State) Forget(ctx context.Context, taskID string) error {
	return s.Client.Del(ctx, stateKey(taskID, "wait"), stateKey(taskID, "cancel"), stateKey(taskID, "sending"), stateKey(taskID, "queue")).Err()
}

// claimScript records queue as the holder of a key unless another queue
// holds it, and returns the holder. A record's TTL is only ever extended.
var claimScript = redis.NewScript(`
local q = redis.call("GET", KEYS[1])
if q and q ~= ARGV[1] then return q end
if redis.call("PTTL", KEYS[1]) < tonumber(ARGV[2]) then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
end
return ARGV[1]`)

// Claim makes queue the holder of taskID's key until due plus the key's
// lifetime, and returns the holder: another queue when it already holds the key.
func (s State) Claim(ctx context.Context, taskID, queue string, due time.Time) (holder string, err error) {
	ttl := max(time.Until(due), 0) + queueTTL
	return claimScript.Run(ctx, s.Client, []string{stateKey(taskID, "queue")}, queue, ttl.Milliseconds()).Text()
}

// takeOverScript moves a key from a holder that no longer has its task.
var takeOverScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
return 1`)

// TakeOver makes queue the holder of taskID's key if from still holds it,
// and reports whether it did.
func (s State) TakeOver(ctx context.Context, taskID, from, queue string, due time.Time) (bool, error) {
	ttl := max(time.Until(due), 0) + queueTTL
	n, err := takeOverScript.Run(ctx, s.Client, []string{stateKey(taskID, "queue")}, from, queue, ttl.Milliseconds()).Int()
	return n == 1, err
}

// Holder returns the queue that holds taskID's key; "" when none.
func (s State) Holder(ctx context.Context, taskID string) (string, error) {
	q, err := s.Client.Get(ctx, stateKey(taskID, "queue")).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return q, err
}
