package state

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/tasks"
)

// Completion is what is kept of a completed send for RESULT_RETENTION, in
// place of asynq's task (which asynq deletes on completion): what status
// shows of it, and the proof that its key is taken. It is kept in the
// task's sending key, so that the dequeue that reads the marks reads it
// too, and the claim script sees it in the key's slot.
type Completion struct {
	Queue   string
	Type    string
	Account string
	Group   string
	// Due is when the send was due, zero for "at once"; ExpiresAt when it
	// was to be given up, zero for never.
	Due, ExpiresAt time.Time
	// Window is the window the envelope named (a name, or tz days
	// from-to); WindowAt the time a window gave the send, later than Due.
	Window   string
	WindowAt time.Time
	// At is when it completed.
	At time.Time
	// Retried and MaxRetry count the attempts that failed and those
	// allowed.
	Retried, MaxRetry int
	// Result is the provider's answer: its status and ids.
	Result tasks.Result
	// Claimed is true when the send's key was claimed (Claim): the record
	// replaces the claim.
	Claimed bool
}

// completionWire is a Completion as Redis keeps it, in as few bytes as
// read well: times in Unix milliseconds, the default account and the
// provider (its type's) left out.
type completionWire struct {
	Queue     string          `json:"queue"`
	Type      string          `json:"type"`
	Account   string          `json:"account,omitempty"`
	Group     string          `json:"group,omitempty"`
	Due       int64           `json:"due,omitempty"`
	ExpiresAt int64           `json:"expires,omitempty"`
	Window    string          `json:"window,omitempty"`
	WindowAt  int64           `json:"window_at,omitempty"`
	At        int64           `json:"at"`
	Retried   int             `json:"retried,omitempty"`
	MaxRetry  int             `json:"max_retry"`
	Status    int             `json:"status"`
	Duplicate bool            `json:"duplicate,omitempty"`
	IDs       json.RawMessage `json:"ids,omitempty"`
	Claimed   bool            `json:"claimed,omitempty"`
}

// donePrefix starts a sending key that holds a Completion.
const donePrefix = "done "

// Encode returns c as it is kept.
func (c Completion) Encode() []byte {
	w := completionWire{Queue: c.Queue, Type: c.Type, Account: c.Account, Group: c.Group, Window: c.Window,
		Due: unixMilli(c.Due), ExpiresAt: unixMilli(c.ExpiresAt), WindowAt: unixMilli(c.WindowAt), At: c.At.UnixMilli(),
		Retried: c.Retried, MaxRetry: c.MaxRetry, Status: c.Result.Status, Duplicate: c.Result.Duplicate, IDs: c.Result.Response, Claimed: c.Claimed}
	if w.Account == tasks.DefaultAccount {
		w.Account = ""
	}
	b, _ := json.Marshal(w) // strings, numbers and a raw message that is JSON
	return b
}

// DecodeCompletion reads a Completion as Encode keeps it.
func DecodeCompletion(data []byte) (Completion, error) {
	var w completionWire
	if err := json.Unmarshal(data, &w); err != nil {
		return Completion{}, err
	}
	c := Completion{Queue: w.Queue, Type: w.Type, Account: w.Account, Group: w.Group, Window: w.Window,
		Due: fromUnixMilli(w.Due), ExpiresAt: fromUnixMilli(w.ExpiresAt), WindowAt: fromUnixMilli(w.WindowAt), At: time.UnixMilli(w.At),
		Retried: w.Retried, MaxRetry: w.MaxRetry, Claimed: w.Claimed,
		Result: tasks.Result{Provider: tasks.Provider(w.Type), Status: w.Status, Duplicate: w.Duplicate, Response: w.IDs}}
	if c.Account == "" {
		c.Account = tasks.DefaultAccount
	}
	return c, nil
}

// unixMilli is t in Unix milliseconds, 0 for the zero time.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromUnixMilli is the time of ms, Unix milliseconds; the zero time for 0.
func fromUnixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Complete records that the task's send is made, from its Encode'd
// Completion, for keep: a later task of the same id is not sent, and its
// key is taken in every queue for as long. The record replaces the
// task's sending mark, its key's claim, whose queue it names, and the
// time its window gave it, which it holds: in one transaction, so that a
// Redis that refuses the record (at maxmemory) keeps the claim.
func (s Store) Complete(ctx context.Context, taskID string, completion []byte, keep time.Duration) error {
	pipe := s.Client.TxPipeline()
	WriteCompletion(ctx, pipe, taskID, completion, keep)
	_, err := pipe.Exec(ctx)
	return err
}

// WriteCompletion adds Complete's commands to pipe, and returns the one
// that writes the record. The claim and the window's time are deleted
// only where the record says they are (a command less for most sends,
// which have neither); a record it cannot read deletes both.
func WriteCompletion(ctx context.Context, pipe redis.Pipeliner, taskID string, completion []byte, keep time.Duration) redis.Cmder {
	set := pipe.Set(ctx, stateKey(taskID, "sending"), donePrefix+string(completion), keep)
	c, err := DecodeCompletion(completion)
	var gone []string
	if err != nil || c.Claimed {
		gone = append(gone, stateKey(taskID, "queue"))
	}
	if err != nil || !c.WindowAt.IsZero() {
		gone = append(gone, stateKey(taskID, "window"))
	}
	if len(gone) > 0 {
		pipe.Del(ctx, gone...)
	}
	return set
}

// Completion returns the record of the task's completed send; nil when
// none is kept.
func (s Store) Completion(ctx context.Context, taskID string) (*Completion, error) {
	v, err := s.Client.Get(ctx, stateKey(taskID, "sending")).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return completionOf(v)
}

// completionOf reads the value of a sending key: nil when it holds no
// Completion.
func completionOf(v string) (*Completion, error) {
	rec, done := strings.CutPrefix(v, donePrefix)
	if !done {
		return nil, nil
	}
	c, err := DecodeCompletion([]byte(rec))
	if err != nil {
		return nil, errors.New("malformed completion record")
	}
	return &c, nil
}

// Made is a send made, with its task id.
type Made struct {
	ID string
	Completion
}

// Completed returns up to n records of sends made in queue, in no
// particular order. It scans the keyspace (every master of a Cluster): a
// send made keeps no entry in any index, which would cost each send a
// command and bytes for the retention, so a queue with few records among
// many takes a scan of them all.
func (s Store) Completed(ctx context.Context, queue string, n int) ([]Made, error) {
	cluster, ok := s.Client.(*redis.ClusterClient)
	if !ok {
		return scanMade(ctx, s.Client, queue, n)
	}
	var (
		mu  sync.Mutex
		out []Made
	)
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		made, err := scanMade(ctx, c, queue, n)
		mu.Lock()
		defer mu.Unlock()
		out = append(out, made...)
		return err
	})
	return out[:min(len(out), n)], err
}

// scanBatch is how many keys a scan asks for at a time, and reads at once.
const scanBatch = 1000

// scanMade returns up to n records of sends made in queue on one node.
func scanMade(ctx context.Context, c redis.Cmdable, queue string, n int) ([]Made, error) {
	var out []Made
	iter := c.Scan(ctx, 0, stateKey("*", "sending"), scanBatch).Iterator()
	keys := make([]string, 0, scanBatch)
	more := true
	for more && len(out) < n {
		keys = keys[:0]
		for len(keys) < scanBatch && iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return out, err
		}
		more = len(keys) == scanBatch
		vals, err := getEach(ctx, c, keys)
		if err != nil {
			return out, err
		}
		for i, v := range vals {
			done, err := completionOf(v)
			if err != nil || done == nil || queue != "" && done.Queue != queue || len(out) == n {
				continue
			}
			id := strings.TrimSuffix(strings.TrimPrefix(keys[i], "punctual:{"), "}:sending")
			out = append(out, Made{ID: id, Completion: *done})
		}
	}
	return out, nil
}

// AreMade reports, for each of ids, whether its send was made (its record
// is kept), in one round trip.
func (s Store) AreMade(ctx context.Context, ids []string) ([]bool, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = stateKey(id, "sending")
	}
	vals, err := getEach(ctx, s.Client, keys)
	if err != nil {
		return nil, err
	}
	made := make([]bool, len(ids))
	for i, v := range vals {
		made[i] = strings.HasPrefix(v, donePrefix)
	}
	return made, nil
}

// getEach returns the value of each of keys, "" where one is not set, in
// one round trip: a GET each, for the keys are in as many Cluster slots.
func getEach(ctx context.Context, c redis.Cmdable, keys []string) ([]string, error) {
	pipe := c.Pipeline()
	gets := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		gets[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	vals := make([]string, len(keys))
	for i, g := range gets {
		vals[i] = g.Val()
	}
	return vals, nil
}
