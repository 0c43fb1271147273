package state

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/tasks"
)

// Store holds what punctual keeps of a task beside asynq, each in a key of
// its own under the task id's hash tag (one Cluster slot per task):
//
//   - wait: the exact end of a wait a provider asked for (asynq keeps retry
//     times in whole seconds, so the task comes back a little early and is
//     held until then);
//   - cancel: a cancel asked while a worker holds the task;
//   - sending: a request of an at-most-once provider that may have reached
//     it with no answer recorded, or, once the send is made, its
//     Completion;
//   - noaccount: when a worker first lacked the send's account;
//   - queue: the queue that holds the task of an idempotency key, which
//     makes a key unique across queues;
//   - window: the time the send's window gave it, for its status.
//
// Every key expires on its own.
type Store struct {
	Client redis.Cmdable
}

// Marks are what a worker reads of a task before it sends it.
type Marks struct {
	// Until is the end of the task's wait; zero when none.
	Until time.Time
	// Sending is true when an earlier try wrote its request and its end
	// was not recorded: its worker died or was stopped mid-request.
	Sending bool
	// For is the fingerprint of the task the sending mark was written for
	// (the sender's own, such as a hash of its payload): a task enqueued
	// later under the same id is another send, which the mark is not
	// about.
	For string
	// Done is the record of the send of this id, made: the task is one
	// whose worker stopped before asynq recorded its completion, or
	// another enqueued under a key already taken. Either way it is not
	// sent. A record kept malformed is an empty Completion. A delivered
	// mark of a worker that kept no records (its result, and the For of
	// its task) reads as a Done with only its Result, for that task.
	Done *Completion
	// WindowAt is the time the send's window gave it (SetWindow); zero
	// when none did.
	WindowAt time.Time
}

// How long the keys live. A cancel lives as long as the producer waits for
// the worker to drop the task; a sending mark until a stalled worker's task
// has long come back; a key's queue past the default archive retention.
const (
	cancelTTL  = time.Minute
	sendingTTL = 24 * time.Hour
	waitTTL    = time.Hour
	queueTTL   = 100 * 24 * time.Hour
	windowTTL  = queueTTL
)

func stateKey(taskID, name string) string { return "punctual:{" + taskID + "}:" + name }

// Load reads a task's wait and sending mark in one round trip.
func (s Store) Load(ctx context.Context, taskID string) (Marks, error) {
	vals, err := s.Client.MGet(ctx, MarkKeys(taskID)...).Result()
	if err != nil {
		return Marks{}, err
	}
	return ParseMarks(vals)
}

// MarkKeys are the keys Marks are read from, for a script that reads them
// with something else: the wait, the sending mark, the window's time.
func MarkKeys(taskID string) []string {
	return []string{stateKey(taskID, "wait"), stateKey(taskID, "sending"), stateKey(taskID, "window")}
}

// ParseMarks reads Marks from the values of MarkKeys, nil where a key is
// not set.
func ParseMarks(vals []any) (Marks, error) {
	if len(vals) != 3 {
		return Marks{}, fmt.Errorf("%d values for a task's marks, want 3", len(vals))
	}
	var m Marks
	for i, t := range []*time.Time{&m.Until, &m.WindowAt} {
		if v, ok := vals[i*2].(string); ok {
			us, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Marks{}, fmt.Errorf("malformed %s", []string{"wait", "window"}[i])
			}
			*t = time.UnixMicro(us)
		}
	}
	if v, ok := vals[1].(string); ok {
		c, err := completionOf(v)
		switch {
		case err != nil:
			m.Done = &Completion{}
		case c != nil:
			m.Done = c
		case strings.HasPrefix(v, deliveredPrefix):
			fp, result, _ := strings.Cut(strings.TrimPrefix(v, deliveredPrefix), " ")
			r, _ := tasks.DecodeResult([]byte(result))
			m.For, m.Done = fp, &Completion{Result: r}
		default:
			m.Sending, m.For = true, v
		}
	}
	return m, nil
}

// deliveredPrefix starts the sending mark of an at-most-once send whose
// answer a worker had, where workers kept no records: the task's
// fingerprint, a space and its result. Such marks live an hour.
const deliveredPrefix = "delivered:"

// Fingerprint names a task's payload in its marks (Marks.For): a task
// enqueued later under the same id (its key reused once this one is gone)
// has another payload, if only its claim or message id, and the marks of
// this one are not about it.
func Fingerprint(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:8])
}

// SetUntil records that the task must wait until t, to the microsecond
// (rounded up, so that no try comes before t), for an hour past t.
func (s Store) SetUntil(ctx context.Context, taskID string, t time.Time) error {
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return s.Client.Set(ctx, stateKey(taskID, "wait"), strconv.FormatInt(us, 10), time.Until(t)+waitTTL).Err()
}

// SetWindow records that the send's window moved it to at, for as long
// as the task is kept after that.
func (s Store) SetWindow(ctx context.Context, taskID string, at time.Time) error {
	return s.Client.Set(ctx, stateKey(taskID, "window"), strconv.FormatInt(at.UnixMicro(), 10), time.Until(at)+windowTTL).Err()
}

// ForgetWindow forgets the time the send's window gave it: a send
// rescheduled is given its window's time again when it falls due.
func (s Store) ForgetWindow(ctx context.Context, taskID string) error {
	return s.Client.Del(ctx, stateKey(taskID, "window")).Err()
}

// WindowAt returns the time the send's window gave it; zero when its
// window never moved it.
func (s Store) WindowAt(ctx context.Context, taskID string) (time.Time, error) {
	us, err := s.Client.Get(ctx, stateKey(taskID, "window")).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMicro(us), nil
}

// Cancel asks the worker holding the task not to send it.
func (s Store) Cancel(ctx context.Context, taskID string) error {
	return s.Client.Set(ctx, stateKey(taskID, "cancel"), "1", cancelTTL).Err()
}

// TakeCancel reports whether a cancel was asked, and clears it: a cancel
// applies to the task held now, never to a later one with the same id.
func (s Store) TakeCancel(ctx context.Context, taskID string) (bool, error) {
	err := s.Client.GetDel(ctx, stateKey(taskID, "cancel")).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}

// ClearCancel withdraws a cancel that was not taken: the send had started.
func (s Store) ClearCancel(ctx context.Context, taskID string) error {
	return s.Client.Del(ctx, stateKey(taskID, "cancel")).Err()
}

// Sending records that a request of the task fingerprinted fp (no space
// in it) is about to be written.
func (s Store) Sending(ctx context.Context, taskID, fp string) error {
	return s.Client.Set(ctx, stateKey(taskID, "sending"), fp, sendingTTL).Err()
}

// NoAccountSince returns when a worker first found it had no account for
// the task, recording now when none did; the record lasts keep, past
// which a later task of the same id starts anew.
func (s Store) NoAccountSince(ctx context.Context, taskID string, keep time.Duration) (time.Time, error) {
	now := time.Now()
	prev, err := s.Client.SetArgs(ctx, stateKey(taskID, "noaccount"), strconv.FormatInt(now.UnixMicro(), 10), redis.SetArgs{Mode: "NX", Get: true, TTL: keep}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return now, nil
	case err != nil:
		return time.Time{}, err
	}
	us, err := strconv.ParseInt(prev, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("malformed no-account mark %q", prev)
	}
	return time.UnixMicro(us), nil
}

// ClearSending clears the sending mark of a try that was not delivered
// (its outcome is known), or whose outcome is recorded as unknown, so
// that a retry by hand sends. A delivered send's mark is replaced by its
// Completion (Complete) instead.
func (s Store) ClearSending(ctx context.Context, taskID string) error {
	return s.Client.Del(ctx, stateKey(taskID, "sending")).Err()
}

// Forget removes every record of a task that will not be sent: its key is
// free for a new send. claim is the task's claim on its key (Payload.Claim):
// a claim a later send has made since stays, and so does the Completion of
// a send of the id already made (the task was enqueued under a key taken).
func (s Store) Forget(ctx context.Context, taskID, claim string) error {
	return forgetScript.Run(ctx, s.Client, forgetKeys(taskID), claim).Err()
}

func forgetKeys(taskID string) []string {
	return []string{stateKey(taskID, "wait"), stateKey(taskID, "cancel"), stateKey(taskID, "sending"), stateKey(taskID, "queue"), stateKey(taskID, "window"), stateKey(taskID, "noaccount")}
}

var forgetScript = redis.NewScript(`
redis.call("DEL", KEYS[1], KEYS[2], KEYS[5], KEYS[6])
local sending = redis.call("GET", KEYS[3])
if sending and string.sub(sending, 1, 5) ~= "done " then
	redis.call("DEL", KEYS[3])
end
if ARGV[1] ~= "" and redis.call("GET", KEYS[4]) == ARGV[1] then
	redis.call("DEL", KEYS[4])
end
return 0`)

// Claim is a queue's claim on a key, as Redis holds it.
type Claim struct {
	// Queue holds the key.
	Queue string
	// Value names this claim and no other: the queue, when it was made
	// and a random part.
	Value string
	// Age is how long ago it was made, by Redis's clock.
	Age time.Duration
	// Done is the record of the key's send, made: the key is taken for
	// good (for the record's retention), in Queue as in every other.
	Done *Completion
}

// claimScript records queue as the holder of a key unless another queue
// holds it, and returns the claim in force with its age. A queue's claim
// stays as it was made (the task enqueued with it carries its value),
// unless ARGV[4] renews it; its TTL is only ever extended. A key whose send
// is made (its sending key, KEYS[2], holds its Completion) is claimed by
// no one: the script returns "done" and the record.
var claimScript = redis.NewScript(`
local done = redis.call("GET", KEYS[2])
if done and string.sub(done, 1, 5) == "done " then
	return {"done", done}
end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call("GET", KEYS[1])
local q, at
if v then
	q, at = string.match(v, "^(.*) (%d+) %x+$")
end
if not q or (q == ARGV[1] and ARGV[4] == "renew") then
	v, at = ARGV[1] .. " " .. now .. " " .. ARGV[3], now
elseif q ~= ARGV[1] then
	return {v, now - tonumber(at)}
end
redis.call("SET", KEYS[1], v, "PX", math.max(tonumber(ARGV[2]), redis.call("PTTL", KEYS[1])))
return {v, now - tonumber(at)}`)

// Claim makes queue the holder of taskID's key until due plus the key's
// lifetime, and returns the claim in force: another queue's when it holds
// the key.
func (s Store) Claim(ctx context.Context, taskID, queue string, due time.Time) (Claim, error) {
	return s.claim(ctx, taskID, queue, due, "")
}

// Renew makes queue's claim on taskID's key anew, as a task taken out to
// be put back (rescheduled) must: young, a claim is not taken over.
func (s Store) Renew(ctx context.Context, taskID, queue string, due time.Time) (Claim, error) {
	return s.claim(ctx, taskID, queue, due, "renew")
}

func (s Store) claim(ctx context.Context, taskID, queue string, due time.Time, mode string) (Claim, error) {
	res, err := claimScript.Run(ctx, s.Client, []string{stateKey(taskID, "queue"), stateKey(taskID, "sending")}, queue, claimTTL(due).Milliseconds(), nonce(), mode).Slice()
	if err != nil {
		return Claim{}, err
	}
	return parseClaim(res)
}

// takeOverScript moves a key from a claim whose task is gone.
var takeOverScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return false end
local t = redis.call("TIME")
local v = ARGV[2] .. " " .. (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) .. " " .. ARGV[4]
redis.call("SET", KEYS[1], v, "PX", ARGV[3])
return v`)

// TakeOver makes queue the holder of taskID's key in place of the claim
// from, whose task is gone, and returns the new claim; ok is false when
// from is no longer in force.
func (s Store) TakeOver(ctx context.Context, taskID string, from Claim, queue string, due time.Time) (c Claim, ok bool, err error) {
	v, err := takeOverScript.Run(ctx, s.Client, []string{stateKey(taskID, "queue")}, from.Value, queue, claimTTL(due).Milliseconds(), nonce()).Text()
	if errors.Is(err, redis.Nil) {
		return Claim{}, false, nil
	}
	if err != nil {
		return Claim{}, false, err
	}
	return Claim{Queue: queue, Value: v}, true, nil
}

// claimTTL is how long a claim on the key of a send due at due lives; far
// dates are bounded, and the sum never overflows.
func claimTTL(due time.Time) time.Duration {
	return min(max(time.Until(due), 0), 50*365*24*time.Hour) + queueTTL
}

func nonce() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// parseClaim reads a claim script's answer: the claim and its age in ms.
// A queue's name has no space (tasks.IsName), so the queue is the first field.
func parseClaim(res []any) (Claim, error) {
	v, _ := res[0].(string)
	if v == "done" {
		rec, _ := res[1].(string)
		c, err := completionOf(rec)
		if err != nil {
			return Claim{}, err
		}
		return Claim{Queue: c.Queue, Done: c}, nil
	}
	age, _ := res[1].(int64)
	q, _, ok := strings.Cut(v, " ")
	if !ok {
		return Claim{}, fmt.Errorf("malformed claim %q", v)
	}
	return Claim{Queue: q, Value: v, Age: time.Duration(age) * time.Millisecond}, nil
}
