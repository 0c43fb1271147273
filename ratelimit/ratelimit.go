// Package ratelimit books provider send slots in Redis, per provider and
// account, so that every producer, worker process and replica keeps to the
// same limits.
//
// A limit such as Mateo's 2/s+10000/24h becomes a calendar: sends are
// spaced evenly at the fastest rate (one slot every 500 ms) and each
// longer window (the day) holds at most its count. A send books the first
// free slot at or after its due time: when it is enqueued, so that it
// reaches a worker only when it may go (one pickup per send, no worker slot
// held while it waits, and another account's sends never behind it), or
// when a worker takes it without one. Limiters that only answer "now, or
// retry after" (GCRA) cannot book a scheduled send's future slot, and
// would have every waiting send picked up again and again.
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

// Limiter books send slots. A nil *Limiter limits nothing.
type Limiter struct {
	rdb    redis.UniversalClient
	limits Limits
}

// New returns a Limiter keeping its calendars in rdb; nil when limits is empty.
func New(rdb redis.UniversalClient, limits Limits) *Limiter {
	if len(limits) == 0 {
		return nil
	}
	return &Limiter{rdb: rdb, limits: limits}
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

// Slots are spaced 3% wider than the fastest rate, and a send may use its
// slot up to 2% of that rate's period late: a late send and those after it
// then still keep to the rate over any window of that period.
const (
	spacing  = 1.03
	lateness = 0.02
)

// calendar returns the slot interval of rates (the fastest rate's), how late
// a send may use its slot, and the longer windows as script arguments:
// count, period in ms, ...
func calendar(rates []Rate) (interval, late time.Duration, windows []any) {
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
	interval = time.Duration(math.Ceil(float64(base)*spacing/float64(time.Millisecond))) * time.Millisecond
	return interval, time.Duration(float64(fastest.Period) * lateness), windows
}

// keys returns the Redis keys of an account's calendar, in one cluster slot.
func keys(provider, account string) []string {
	tag := "punctual:rl:{" + provider + ":" + account + "}:"
	return []string{tag + "slots", tag + "windows", tag + "blocked"}
}

//go:embed reserve.lua
var reserveSource string

var reserveScript = redis.NewScript(reserveSource)

// Reserve books for the send taskID the first free slot of the account at
// or after at, and returns its time; booked is false when the send already
// held that slot. A send holding an earlier slot is moved. Without limits
// it returns at.
func (l *Limiter) Reserve(ctx context.Context, provider, account, taskID string, at time.Time) (slot time.Time, booked bool, err error) {
	rates, ok := l.rates(provider, account)
	if !ok {
		return at, false, nil
	}
	interval, late, windows := calendar(rates)
	now := time.Now().UnixMilli()
	from := at.UnixMilli()
	if time.UnixMilli(from).Before(at) {
		from++ // whole milliseconds, rounded up: a slot is never before at
	}
	args := append([]any{interval.Milliseconds(), max(from, now), now, taskID, late.Milliseconds()}, windows...)
	res, err := reserveScript.Run(ctx, l.rdb, keys(provider, account), args...).Int64Slice()
	if err != nil || len(res) != 2 {
		return time.Time{}, false, fmt.Errorf("rate limit %s:%s: %w", provider, account, err)
	}
	return time.UnixMilli(res[0]), res[1] == 1, nil
}

// releaseScript frees a send's slot and its count in the longer windows.
var releaseScript = redis.NewScript(`
local idx = redis.call("ZSCORE", KEYS[1], ARGV[1])
if not idx then return 0 end
redis.call("ZREM", KEYS[1], ARGV[1])
local interval = tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
	local field = ARGV[i+1] .. ":" .. math.floor(tonumber(idx) * interval / tonumber(ARGV[i+1]))
	if tonumber(redis.call("HGET", KEYS[2], field) or "0") > 0 then
		redis.call("HINCRBY", KEYS[2], field, -1)
	end
end
return 1`)

// Release frees the slot of taskID, cancelled before it was sent.
func (l *Limiter) Release(ctx context.Context, provider, account, taskID string) error {
	rates, ok := l.rates(provider, account)
	if !ok {
		return nil
	}
	interval, _, windows := calendar(rates)
	args := append([]any{taskID, interval.Milliseconds()}, windows...)
	return releaseScript.Run(ctx, l.rdb, keys(provider, account), args...).Err()
}

// Block keeps the account from sending before until: the provider said so
// (a 429, or its rate-limit headers).
func (l *Limiter) Block(ctx context.Context, provider, account string, until time.Time) error {
	if _, ok := l.rates(provider, account); !ok {
		return nil
	}
	k := keys(provider, account)[2]
	ttl := time.Until(until) + time.Minute
	return l.rdb.Set(ctx, k, strconv.FormatInt(until.UnixMilli(), 10), ttl).Err()
}

// BlockedUntil returns when the account's provider-imposed wait ends; zero
// when it has none.
func (l *Limiter) BlockedUntil(ctx context.Context, provider, account string) (time.Time, error) {
	if _, ok := l.rates(provider, account); !ok {
		return time.Time{}, nil
	}
	ms, err := l.rdb.Get(ctx, keys(provider, account)[2]).Int64()
	if errors.Is(err, redis.Nil) || err == nil && ms <= time.Now().UnixMilli() {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

// Waiting is what an account's calendar holds.
type Waiting struct {
	// Sends is how many sends hold a slot from now on.
	Sends int64
	// Next is the first of those slots; zero when none.
	Next time.Time
	// BlockedUntil is when a provider's wait ends; zero when none.
	BlockedUntil time.Time
}

// Waiting returns how many sends of the account wait for their slot, and
// when the next one goes.
func (l *Limiter) Waiting(ctx context.Context, provider, account string) (Waiting, error) {
	var w Waiting
	rates, ok := l.rates(provider, account)
	if !ok {
		return w, nil
	}
	interval, _, _ := calendar(rates)
	k := keys(provider, account)
	now := strconv.FormatInt(time.Now().UnixMilli()/interval.Milliseconds(), 10)
	pipe := l.rdb.Pipeline()
	count := pipe.ZCount(ctx, k[0], now, "+inf")
	next := pipe.ZRangeByScoreWithScores(ctx, k[0], &redis.ZRangeBy{Min: now, Max: "+inf", Count: 1})
	blocked := pipe.Get(ctx, k[2])
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return w, err
	}
	w.Sends = count.Val()
	if n := next.Val(); len(n) > 0 {
		w.Next = time.UnixMilli(int64(n[0].Score) * interval.Milliseconds())
	}
	if ms, err := blocked.Int64(); err == nil && ms > time.Now().UnixMilli() {
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
		iter := c.Scan(ctx, 0, "punctual:rl:{*}:slots", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			mu.Lock()
			scopes = append(scopes, k[len("punctual:rl:{"):len(k)-len("}:slots")])
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
