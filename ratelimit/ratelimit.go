// Package ratelimit books provider send times in Redis, per provider and
// account, so that every producer, worker process and replica keeps to the
// same limits.
//
// A limit such as Mateo's 2/s+10000/24h becomes a calendar of bookings:
// no two sends of an account closer than the fastest rate's interval, 3%
// wide (515 ms for Mateo, 103 ms for LeadConnector's 100/10s), and each
// longer window (the day) holding at most its count. A send books its due
// time itself when nothing is booked that close, else the earliest time
// after it that keeps to the limits: when it is enqueued, so that it
// reaches a worker only when it may go (one pickup per send, no worker slot
// held while it waits, and another account's sends never behind it), or
// when a worker takes it without one. Limiters that only answer "now, or
// retry after" (GCRA) cannot book a scheduled send's future time, and
// would have every waiting send picked up again and again.
//
// Caps keep the same calendars per recipient, with windows that count any
// period rather than periods from the epoch: at most 3 sends to a person
// in any 24 h.
package ratelimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rate is a number of requests per period.
type Rate struct {
	Count  int
	Period time.Duration
}

// Limits are the rates of each scope: a provider ("mateo") or a provider's
// account ("mateo:acme"), which replaces its provider's for that account.
type Limits map[string][]Rate

// Limiter books send times. A nil *Limiter limits nothing.
type Limiter struct {
	rdb    redis.UniversalClient
	limits Limits
	// now is this process's clock, for what it reads back; bookings go by
	// Redis's.
	now func() time.Time
}

// New returns a Limiter keeping its calendars in rdb; nil when limits is empty.
func New(rdb redis.UniversalClient, limits Limits) *Limiter {
	if len(limits) == 0 {
		return nil
	}
	return &Limiter{rdb: rdb, limits: limits, now: time.Now}
}

// rates returns the rates of an account, and false when it has none.
func (l *Limiter) rates(provider, account string) ([]Rate, bool) {
	if l == nil {
		return nil, false
	}
	if r, ok := l.limits[provider+":"+account]; ok {
		return r, true
	}
	r, ok := l.limits[provider]
	return r, ok
}

// Sends are spaced 3% wider than the fastest rate: our clock and the
// provider's window differ by the network's jitter, and a send that
// arrives a little late or early must still keep to the provider's rate.
// A send may use its booking up to 2% of that rate's period late: a late
// send and those after it then still keep to the rate over any window of
// that period.
const (
	spacing  = 1.03
	lateness = 0.02
)

// calendar returns the spacing of rates (the fastest rate's interval, 3%
// wide, in whole ms), how late a send may use its booking, and the longer
// windows as script arguments: count, period in ms, ...
func calendar(rates []Rate) (gap, late time.Duration, windows []any) {
	fastest := rates[0]
	for _, r := range rates[1:] {
		if r.Period/time.Duration(r.Count) < fastest.Period/time.Duration(fastest.Count) {
			fastest = r
		}
	}
	base := fastest.Period / time.Duration(fastest.Count)
	for _, r := range rates {
		if r.Period/time.Duration(r.Count) > base {
			windows = append(windows, r.Count, r.Period.Milliseconds())
		}
	}
	gap = time.Duration(math.Ceil(float64(base)*spacing/float64(time.Millisecond))) * time.Millisecond
	return gap, time.Duration(float64(fastest.Period) * lateness), windows
}

// keys returns the Redis keys of an account's calendar, in one cluster slot.
func keys(provider, account string) []string {
	tag := "punctual:rl:{" + provider + ":" + account + "}:"
	return []string{tag + "bookings", tag + "runs", tag + "blocked"}
}

var (
	//go:embed calendar.lua
	calendarSource string
	//go:embed reserve.lua
	reserveSource string
	//go:embed release.lua
	releaseSource string

	reserveScript = redis.NewScript(calendarSource + reserveSource)
	releaseScript = redis.NewScript(calendarSource + releaseSource)
)

// Reserve books for the send taskID the earliest time of the account at or
// after at that keeps to its limits, and returns it: at itself (to the
// millisecond, rounded up; Redis's now when at has passed) when nothing
// else is booked near it. booked is
// false when the send already held a booking it may keep; one before at,
// before a provider's hold, or too far in the past is moved. Without
// limits it returns at.
func (l *Limiter) Reserve(ctx context.Context, provider, account, taskID string, at time.Time) (slot time.Time, booked bool, err error) {
	slots, err := l.ReserveMany(ctx, provider, account, []Send{{TaskID: taskID, At: at}})
	if err != nil {
		return time.Time{}, false, err
	}
	return slots[0].At, slots[0].Booked, nil
}

// Send is a send to book: its task id, and when it is due.
type Send struct {
	TaskID string
	At     time.Time
}

// Slot is the time booked for a send.
type Slot struct {
	At time.Time
	// Booked is false when the send already held a booking it may keep.
	Booked bool
}

// maxSends is the most sends booked in one script call: Redis serves
// nothing else while a script runs, and behind a backlog a call of this
// many holds it for about 2 ms.
const maxSends = 128

// ReserveMany books sends of one account as Reserve would book each of
// them, in order, and returns their slots in that order: a send sees the
// bookings of those before it, and one listed twice keeps its first
// booking. Each script call books up to 128 sends at one instant of Redis's
// clock, and does the work of a call (trims, expiry) once for all of them.
// On an error, the slots returned are those of the sends booked before it.
// Without limits each send's slot is its own time.
func (l *Limiter) ReserveMany(ctx context.Context, provider, account string, sends []Send) ([]Slot, error) {
	rates, ok := l.rates(provider, account)
	if !ok {
		slots := make([]Slot, 0, len(sends))
		for _, s := range sends {
			slots = append(slots, Slot{At: s.At})
		}
		return slots, nil
	}
	gap, late, windows := calendar(rates)
	slots, err := reserve(ctx, l.rdb, keys(provider, account), gap, late, windows, sends)
	if err != nil {
		return slots, fmt.Errorf("rate limit %s:%s: %w", provider, account, err)
	}
	return slots, nil
}

// reserve books sends on the calendar of keys k, whose bookings are gap
// apart, may be used late that late, and fill the windows given as
// reserve.lua takes them (count, period ms, ...).
func reserve(ctx context.Context, rdb redis.Scripter, k []string, gap, late time.Duration, windows []any, sends []Send) ([]Slot, error) {
	slots := make([]Slot, 0, len(sends))
	head := append([]any{gap.Milliseconds(), late.Milliseconds(), len(windows) / 2}, windows...)
	for chunk := range slices.Chunk(sends, maxSends) {
		args := slices.Grow(slices.Clip(head), 2*len(chunk))
		for _, s := range chunk {
			args = append(args, s.TaskID, ceilMilli(s.At))
		}
		res, err := reserveScript.Run(ctx, rdb, k, args...).Slice()
		if err == nil {
			slots, err = appendSlots(slots, res, chunk)
		}
		if err != nil {
			return slots, err
		}
	}
	return slots, nil
}

// appendSlots appends to slots those of the reply of reserve.lua for sends:
// a time and a flag for each send booked, then, when one could not be,
// why.
func appendSlots(slots []Slot, res []any, sends []Send) ([]Slot, error) {
	n := len(res) / 2
	for i := range n {
		t, ok1 := res[2*i].(int64)
		b, ok2 := res[2*i+1].(int64)
		if !ok1 || !ok2 {
			return slots, fmt.Errorf("unexpected reply %v", res)
		}
		slots = append(slots, Slot{At: time.UnixMilli(t), Booked: b == 1})
	}
	if n == len(sends) && len(res) == 2*n {
		return slots, nil
	}
	if why, ok := res[len(res)-1].(string); ok && n < len(sends) && len(res) == 2*n+1 {
		return slots, fmt.Errorf("send %s: %s", sends[n].TaskID, why)
	}
	return slots, fmt.Errorf("unexpected reply %v", res)
}

// ceilMilli returns t in whole Unix milliseconds, rounded up: a booking is
// never before the time asked for, nor before a provider's hold.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// Release frees the booking of taskID, cancelled before it was sent.
func (l *Limiter) Release(ctx context.Context, provider, account, taskID string) error {
	if _, ok := l.rates(provider, account); !ok {
		return nil
	}
	return releaseScript.Run(ctx, l.rdb, keys(provider, account), taskID).Err()
}

// Block keeps the account from sending before until: the provider said so
// (a 429, or its rate-limit headers).
func (l *Limiter) Block(ctx context.Context, provider, account string, until time.Time) error {
	if _, ok := l.rates(provider, account); !ok {
		return nil
	}
	k := keys(provider, account)[2]
	ttl := until.Sub(l.now()) + time.Minute
	return l.rdb.Set(ctx, k, strconv.FormatInt(ceilMilli(until), 10), ttl).Err()
}

// BlockedUntil returns when the account's provider-imposed wait ends; zero
// when it has none.
func (l *Limiter) BlockedUntil(ctx context.Context, provider, account string) (time.Time, error) {
	if _, ok := l.rates(provider, account); !ok {
		return time.Time{}, nil
	}
	ms, err := l.rdb.Get(ctx, keys(provider, account)[2]).Int64()
	if errors.Is(err, redis.Nil) || err == nil && ms <= l.now().UnixMilli() {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

// Waiting is what an account's calendar holds.
type Waiting struct {
	// Sends is how many sends are booked from now on.
	Sends int64
	// Next is the first of those bookings; zero when none.
	Next time.Time
	// BlockedUntil is when a provider's wait ends; zero when none.
	BlockedUntil time.Time
}

// Waiting returns how many sends of the account wait for their booked
// time, and when the next one goes.
func (l *Limiter) Waiting(ctx context.Context, provider, account string) (Waiting, error) {
	var w Waiting
	if _, ok := l.rates(provider, account); !ok {
		return w, nil
	}
	k := keys(provider, account)
	now := l.now().UnixMilli()
	from := strconv.FormatInt(now, 10)
	pipe := l.rdb.Pipeline()
	count := pipe.ZCount(ctx, k[0], from, "+inf")
	next := pipe.ZRangeByScoreWithScores(ctx, k[0], &redis.ZRangeBy{Min: from, Max: "+inf", Count: 1})
	blocked := pipe.Get(ctx, k[2])
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return w, err
	}
	w.Sends = count.Val()
	if n := next.Val(); len(n) > 0 {
		w.Next = time.UnixMilli(int64(n[0].Score))
	}
	if ms, err := blocked.Int64(); err == nil && ms > now {
		w.BlockedUntil = time.UnixMilli(ms)
	}
	return w, nil
}

// Accounts returns the provider:account pairs that have a calendar.
func (l *Limiter) Accounts(ctx context.Context) ([]string, error) {
	if l == nil {
		return nil, nil
	}
	var (
		mu     sync.Mutex
		scopes []string
	)
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, "punctual:rl:{*}:bookings", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			mu.Lock()
			scopes = append(scopes, k[len("punctual:rl:{"):len(k)-len("}:bookings")])
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cluster, ok := l.rdb.(*redis.ClusterClient); ok {
		// A SCAN on a cluster sees one node's keys: scan every master.
		err = cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, l.rdb)
	}
	slices.Sort(scopes)
	return scopes, err
}
