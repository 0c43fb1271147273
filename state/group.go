package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/punctualhq/punctual/internal/asynqadapter"
	"github.com/punctualhq/punctual/tasks"
	"github.com/redis/go-redis/v9"
)

// Cancellation groups. A send with a group joins it when it is enqueued:
// its task id, queue, type and account go into the group's hash of sends,
// and its payload carries the group's generation at that moment. A cancel
// of the group raises the generation and takes every send that joined
// before; a send whose generation is older than its group's is never made,
// for the worker asks right before each request. Both keys share the
// group's hash tag:
//
//   - punctual:group:{G}: the generation (gen) and how long the records
//     of the group's cancelled sends are kept (keep, ms);
//   - punctual:group:{G}:sends: task id → "gen queue type account".
//
// A cancelled send leaves a record for the retention period in the slot of
// its queue (asynq's hash tag is the queue's name, so a script deletes a
// queue's tasks and records them at once):
//
//   - punctual:cancelled:{Q}: the task ids by the time they were cancelled;
//   - punctual:cancelled:{Q}:records: task id → Cancellation as JSON.
//
// A send of the group that had ended archived when the group was cancelled
// can still be retried by hand for as long as its archive keeps it
// (ARCHIVE_RETENTION, 90 days), long after the group's record has lapsed
// (RESULT_RETENTION, 7 days). The cancel marks it in its own asynq hash,
// which lives exactly as long as it: field group_cancelled, the group's
// name (asynq writes only the fields it knows and deletes the hash with
// the task).

// Cancellation is the record of a send cancelled before it started.
type Cancellation struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Queue   string `json:"queue"`
	Account string `json:"account,omitempty"`
	// Group is the group whose cancel took the send; empty for a cancel of
	// the send alone.
	Group string `json:"group,omitempty"`
	// At is when it was cancelled.
	At time.Time `json:"cancelled_at"`
	// Due is when it was to be sent; zero where the canceller did not
	// know it.
	Due time.Time `json:"due,omitzero"`
}

// Groups keeps the cancellation groups and the records of cancelled sends
// in Redis.
type Groups struct {
	Client redis.Cmdable
}

func groupKeys(group string) []string {
	return []string{"punctual:group:{" + group + "}", "punctual:group:{" + group + "}:sends"}
}

func cancelledKeys(queue string) []string {
	return []string{"punctual:cancelled:{" + queue + "}", "punctual:cancelled:{" + queue + "}:records"}
}

// Member is a send of a group, as the group holds it.
type Member struct {
	ID, Queue, Type, Account string
	// value is the group's entry for it, which a later join replaces.
	value string
}

// joinScript adds a send to a group and returns the group's generation.
// Both keys live at least ARGV[3] ms.
var joinScript = redis.NewScript(`
local gen = tonumber(redis.call("HGET", KEYS[1], "gen") or "0")
redis.call("HSET", KEYS[1], "gen", gen, "keep", ARGV[4])
redis.call("HSET", KEYS[2], ARGV[1], gen .. " " .. ARGV[2])
for _, k in ipairs(KEYS) do
	if redis.call("PTTL", k) < tonumber(ARGV[3]) then redis.call("PEXPIRE", k, ARGV[3]) end
end
return gen`)

// Join adds the send m, due at due, to group and returns the group's
// generation, for its payload. The group is kept until the latest due time
// of its sends plus keep, and a cancel's records for keep.
func (g Groups) Join(ctx context.Context, group string, m Member, due time.Time, keep time.Duration) (int64, error) {
	value := m.Queue + " " + m.Type + " " + m.Account
	return joinScript.Run(ctx, g.Client, groupKeys(group), m.ID, value, groupTTL(due, keep).Milliseconds(), keep.Milliseconds()).Int64()
}

// Drop takes the send id out of group's members, for a send that joined
// it and was then not enqueued.
func (g Groups) Drop(ctx context.Context, group, id string) error {
	return g.Client.HDel(ctx, groupKeys(group)[1], id).Err()
}

// groupTTL is how long a group with a send due at due lives; far dates
// are bounded, as a claim's are.
func groupTTL(due time.Time, keep time.Duration) time.Duration {
	return min(max(time.Until(due), 0), 50*365*24*time.Hour) + max(keep, time.Hour)
}

// checkScript reports a group's generation and keep, and keeps a group
// whose sends are still tried for keep more.
var checkScript = redis.NewScript(`
local v = redis.call("HMGET", KEYS[1], "gen", "keep")
local keep = tonumber(v[2] or "0")
if tonumber(v[1] or "0") <= tonumber(ARGV[1]) and keep > 0 then
	for _, k in ipairs(KEYS) do
		if redis.call("PTTL", k) < keep then redis.call("PEXPIRE", k, keep) end
	end
end
return {v[1] or "0", keep}`)

// Since reports whether group was cancelled since a send joined it at
// generation gen, and for how long the group's cancellations are kept.
func (g Groups) Since(ctx context.Context, group string, gen int64) (cancelled bool, keep time.Duration, err error) {
	return sinceOf(group, gen, checkScript.Run(ctx, g.Client, groupKeys(group), gen))
}

// sinceOf reads checkScript's answer for a send that joined group at
// generation gen.
func sinceOf(group string, gen int64, cmd *redis.Cmd) (cancelled bool, keep time.Duration, err error) {
	res, err := cmd.Slice()
	if err != nil {
		return false, 0, err
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("group %s: unexpected answer %v", group, res)
	}
	s, _ := res[0].(string)
	now, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return false, 0, fmt.Errorf("group %s: malformed generation %q", group, s)
	}
	ms, _ := res[1].(int64)
	return now > gen, time.Duration(ms) * time.Millisecond, nil
}

// Cancelled reports whether c's send, which joined its group at
// generation gen, was cancelled with its group since, and then records it
// cancelled: the handler does not send it. The group's generation and the
// send's mark (made when it was archived as its group was cancelled) are
// read in one round trip: the mark outlives the group's record.
func (g Groups) Cancelled(ctx context.Context, c Cancellation, gen int64) (bool, error) {
	pipe := g.Client.Pipeline()
	check := checkScript.Eval(ctx, pipe, groupKeys(c.Group), gen)
	mark := pipe.HGet(ctx, asynqadapter.TaskKey(c.Queue, c.ID), groupCancelledField)
	_, _ = pipe.Exec(ctx) // each answer's error is read below
	if err := mark.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return false, err
	}
	cancelled, keep, err := sinceOf(c.Group, gen, check)
	if err != nil || !cancelled && mark.Val() != c.Group {
		return false, err
	}
	return true, g.Record(ctx, c, keep)
}

// groupCancelledField is the field of an archived task's asynq hash that
// names its group when the group was cancelled after it joined.
const groupCancelledField = "group_cancelled"

// beginScript raises a group's generation and returns its sends, which
// joined before.
var beginScript = redis.NewScript(`
local gen = redis.call("HINCRBY", KEYS[1], "gen", 1)
redis.call("HSET", KEYS[1], "keep", ARGV[1])
if redis.call("PTTL", KEYS[1]) < tonumber(ARGV[1]) then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
return redis.call("HGETALL", KEYS[2])`)

// Begin starts a cancel of group: from now on no send that joined it
// before is made. It returns those sends; their cancellations are kept for
// keep.
func (g Groups) Begin(ctx context.Context, group string, keep time.Duration) ([]Member, error) {
	res, err := beginScript.Run(ctx, g.Client, groupKeys(group), max(keep, time.Hour).Milliseconds()).StringSlice()
	if err != nil {
		return nil, err
	}
	members := make([]Member, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		f := strings.Fields(res[i+1])
		if len(f) != 4 {
			return nil, fmt.Errorf("group %s: malformed entry %q for task %s", group, res[i+1], res[i])
		}
		members = append(members, Member{ID: res[i], Queue: f[1], Type: f[2], Account: f[3], value: res[i+1]})
	}
	return members, nil
}

// leaveScript removes sends from a group unless they joined again since.
var leaveScript = redis.NewScript(`
for i = 1, #ARGV, 2 do
	if redis.call("HGET", KEYS[1], ARGV[i]) == ARGV[i + 1] then
		redis.call("HDEL", KEYS[1], ARGV[i])
	end
end
return 0`)

// Leave removes members from group, those a cancel is done with.
func (g Groups) Leave(ctx context.Context, group string, members []Member) error {
	if len(members) == 0 {
		return nil
	}
	pipe := g.Client.Pipeline()
	for chunk := range chunks(members, batch) {
		args := make([]any, 0, 2*len(chunk))
		for _, m := range chunk {
			args = append(args, m.ID, m.value)
		}
		leaveScript.EvalSha(ctx, pipe, groupKeys(group)[1:], args...)
	}
	return loadAndExec(ctx, g.Client, pipe, leaveScript)
}

// batch is how many tasks one script call takes: long enough to spare
// round trips, short enough not to hold Redis up.
const batch = 500

func chunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// keepRecords trims a queue's records older than the retention and keeps
// the rest that long (KEYS: cancelledKeys; ARGV[1] now, ARGV[2] keep, ms).
const keepRecords = `
local old = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", tonumber(ARGV[1]) - tonumber(ARGV[2]), "LIMIT", 0, 1000)
if #old > 0 then
	redis.call("ZREM", KEYS[1], unpack(old))
	redis.call("HDEL", KEYS[2], unpack(old))
end
if redis.call("EXISTS", KEYS[1]) == 1 then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	redis.call("PEXPIRE", KEYS[2], ARGV[2])
end`

// recordScript records cancellations (ARGV[3], ARGV[4]...: id, record).
var recordScript = redis.NewScript(`
for i = 3, #ARGV, 2 do
	redis.call("ZADD", KEYS[1], ARGV[1], ARGV[i])
	redis.call("HSET", KEYS[2], ARGV[i], ARGV[i + 1])
end` + keepRecords + `
return 0`)

// Record records c, a send cancelled before it started, for keep.
func (g Groups) Record(ctx context.Context, c Cancellation, keep time.Duration) error {
	rec, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return recordScript.Run(ctx, g.Client, cancelledKeys(c.Queue), c.At.UnixMilli(), max(keep, time.Hour).Milliseconds(), c.ID, rec).Err()
}

// cancelScript deletes the tasks of a queue that have not started and
// records them cancelled, in one step (ARGV[1] is when the cancel began,
// ARGV[3] asynq's prefix of the queue's keys (asynqadapter has their layout); ARGV[4], ARGV[5]...: id,
// record). For each task it returns its state and, for one it deleted, its
// message: a task no queue holds is "dropped" when it was recorded
// cancelled since the cancel began (its worker dropped it), else "gone";
// one a worker holds is "active", one done "completed" or "archived". An
// archived task is marked with its record's group, so that a retry of it
// by hand is not sent after the group's record has lapsed.
var cancelScript = redis.NewScript(`
local out = {}
for i = 4, #ARGV, 2 do
	local id = ARGV[i]
	local key = ` + asynqadapter.LuaTaskKey("ARGV[3]", "id") + `
	local v = ` + asynqadapter.LuaStateAndMessage("key") + `
	local state = v[1]
	if not state then
		local t = redis.call("ZSCORE", KEYS[1], id)
		out[#out + 1] = {(t and tonumber(t) >= tonumber(ARGV[1])) and "dropped" or "gone"}
	elseif state == "active" or state == "completed" or state == "archived" then
		if state == "archived" then
			local group = cjson.decode(ARGV[i + 1]).group
			if group then
				redis.call("HSET", key, "` + groupCancelledField + `", group)
			end
		end
		out[#out + 1] = {state}
	else
		` + asynqadapter.LuaDeleteTask("ARGV[3]", "state", "id", "key") + `
		redis.call("ZADD", KEYS[1], ARGV[1], id)
		redis.call("HSET", KEYS[2], id, ARGV[i + 1])
		out[#out + 1] = {"cancelled", v[2]}
	end
end` + keepRecords + `
return out`)

// Outcome is what a cancel found of a task.
type Outcome struct {
	// State is "cancelled" for a task the cancel deleted, "dropped" for
	// one its worker dropped for the cancel, "gone" for one no queue holds,
	// or its state: "active", "completed", "archived".
	State string
	// Payload is the deleted task's payload.
	Payload tasks.Payload
}

// CancelQueued deletes the tasks of cs, all of queue, that have not
// started, and records them cancelled for keep, a batch at a time; it
// returns what it found of each, in order. at is when the cancel began,
// before any worker could drop a send for it. The tasks' keys are asynq's
// (asynqadapter.TaskKey).
func (g Groups) CancelQueued(ctx context.Context, queue string, cs []Cancellation, at time.Time, keep time.Duration) ([]Outcome, error) {
	pipe := g.Client.Pipeline()
	var cmds []*redis.Cmd
	for chunk := range chunks(cs, batch) {
		args := make([]any, 0, 3+2*len(chunk))
		args = append(args, at.UnixMilli(), max(keep, time.Hour).Milliseconds(), asynqadapter.QueueKeyPrefix(queue))
		for _, c := range chunk {
			rec, err := json.Marshal(c)
			if err != nil {
				return nil, err
			}
			args = append(args, c.ID, rec)
		}
		cmds = append(cmds, cancelScript.EvalSha(ctx, pipe, cancelledKeys(queue), args...))
	}
	if err := loadAndExec(ctx, g.Client, pipe, cancelScript); err != nil {
		return nil, err
	}
	out := make([]Outcome, 0, len(cs))
	for _, cmd := range cmds {
		res, err := cmd.Slice()
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			pair, _ := r.([]any)
			var o Outcome
			if len(pair) > 0 {
				o.State, _ = pair[0].(string)
			}
			if len(pair) > 1 {
				msg, _ := pair[1].(string)
				if o.Payload, err = payloadOfMessage([]byte(msg)); err != nil {
					return nil, fmt.Errorf("task %s: %w", cs[len(out)].ID, err)
				}
			}
			out = append(out, o)
		}
	}
	if len(out) != len(cs) {
		return nil, fmt.Errorf("cancel: %d answers for %d tasks", len(out), len(cs))
	}
	return out, nil
}

// loadAndExec runs pipe, whose commands run script by its hash, once
// script is loaded: on every node of a Cluster.
func loadAndExec(ctx context.Context, c redis.Cmdable, pipe redis.Pipeliner, script *redis.Script) error {
	if err := script.Load(ctx, c).Err(); err != nil {
		return err
	}
	_, err := pipe.Exec(ctx)
	return err
}

// payloadOfMessage reads the payload of an asynq task message.
func payloadOfMessage(msg []byte) (tasks.Payload, error) {
	v, err := asynqadapter.PayloadOfMessage(msg)
	if err != nil {
		return tasks.Payload{}, err
	}
	return tasks.DecodePayload(v)
}

// ForgetAll forgets the tasks of ids, each with its claim (Store.Forget),
// in one round trip per node.
func (s Store) ForgetAll(ctx context.Context, ids, claims []string) error {
	pipe := s.Client.Pipeline()
	for i, id := range ids {
		forgetScript.EvalSha(ctx, pipe, forgetKeys(id), claims[i])
	}
	return loadAndExec(ctx, s.Client, pipe, forgetScript)
}

// LookUp returns the record of task id cancelled from queue; nil when none.
func (g Groups) LookUp(ctx context.Context, queue, id string) (*Cancellation, error) {
	rec, err := g.Client.HGet(ctx, cancelledKeys(queue)[1], id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c Cancellation
	if err := json.Unmarshal(rec, &c); err != nil {
		return nil, fmt.Errorf("record of cancelled task %s: %w", id, err)
	}
	return &c, nil
}

// List returns up to n of the sends cancelled from queue, the latest first.
func (g Groups) List(ctx context.Context, queue string, n int) ([]Cancellation, error) {
	keys := cancelledKeys(queue)
	ids, err := g.Client.ZRevRange(ctx, keys[0], 0, int64(n)-1).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	recs, err := g.Client.HMGet(ctx, keys[1], ids...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Cancellation, 0, len(recs))
	for i, r := range recs {
		s, ok := r.(string)
		if !ok {
			continue // trimmed meanwhile
		}
		var c Cancellation
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			return nil, fmt.Errorf("record of cancelled task %s: %w", ids[i], err)
		}
		out = append(out, c)
	}
	return out, nil
}
