package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"punctual/internal/redistest"
	"punctual/ratelimit"
)

func setup(t *testing.T, limits ratelimit.Limits) *ratelimit.Limiter {
	t.Helper()
	conn := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: conn.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return ratelimit.New(rdb, limits)
}

// reserve books n sends of account from at and returns their slots.
func reserve(t *testing.T, l *ratelimit.Limiter, account string, at time.Time, n int, prefix string) []time.Time {
	t.Helper()
	var slots []time.Time
	for i := range n {
		slot, _, err := l.Reserve(context.Background(), "mateo", account, fmt.Sprintf("%s-%d", prefix, i), at)
		if err != nil {
			t.Fatal(err)
		}
		slots = append(slots, slot)
	}
	return slots
}

func TestSlotsAreSpacedAtTheRate(t *testing.T) {
	t.Parallel()
	l := setup(t, ratelimit.Limits{"mateo": {{Count: 2, Period: time.Second}}})
	start := time.Now()
	slots := reserve(t, l, "acme", start, 6, "t")
	if slots[0].Before(start.Add(-500*time.Millisecond)) || slots[0].After(start.Add(500*time.Millisecond)) {
		t.Errorf("first slot %s, want about now (%s)", slots[0], start)
	}
	for i := 1; i < len(slots); i++ {
		// 3% wider than 500ms, so that a send a little late keeps to the rate.
		if gap := slots[i].Sub(slots[i-1]); gap != 515*time.Millisecond {
			t.Errorf("slot %d is %s after the one before, want 515ms", i, gap)
		}
	}
	again := reserve(t, l, "acme", start, 1, "t")[0]
	if !again.Equal(slots[0]) {
		t.Errorf("booking t-0 again gave %s, want its slot %s", again, slots[0])
	}
}

func TestLongerWindowsHoldTheirCount(t *testing.T) {
	t.Parallel()
	l := setup(t, ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}, {Count: 3, Period: time.Hour}}})
	slots := reserve(t, l, "acme", time.Now(), 4, "t")
	next := slots[0].Truncate(time.Hour).Add(time.Hour)
	if slots[3].Before(next) || slots[3].Sub(next) >= 103*time.Millisecond {
		t.Errorf("fourth send of an hour holding three: %s, want the first slot of the next hour %s", slots[3], next)
	}
}

func TestAccountsDoNotWaitForEachOther(t *testing.T) {
	t.Parallel()
	l := setup(t, ratelimit.Limits{"mateo": {{Count: 2, Period: time.Second}}})
	reserve(t, l, "acme", time.Now(), 1000, "a")
	now := time.Now()
	beta := reserve(t, l, "beta", now, 1, "b")[0]
	if beta.Sub(now) > 515*time.Millisecond {
		t.Errorf("beta's lone send waits until %s behind acme's backlog", beta)
	}
	w, err := l.Waiting(context.Background(), "mateo", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if w.Sends < 998 || w.Sends > 1000 || w.Next.IsZero() {
		t.Errorf("acme waiting %+v, want about 1000 sends", w)
	}
}

func TestReleasedAndFutureSlots(t *testing.T) {
	t.Parallel()
	l := setup(t, ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}}})
	ctx := context.Background()
	now := time.Now()
	later, booked, err := l.Reserve(ctx, "mateo", "acme", "later", now.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if d := later.Sub(now); d < 10*time.Second || d > 10*time.Second+103*time.Millisecond || !booked {
		t.Errorf("a send due in 10s got a slot in %s (booked %t)", d, booked)
	}
	if again, booked, _ := l.Reserve(ctx, "mateo", "acme", "later", now.Add(10*time.Second)); !again.Equal(later) || booked {
		t.Errorf("booked again: %s (booked %t), want its slot %s held", again, booked, later)
	}
	slots := reserve(t, l, "acme", now, 3, "t")
	if slots[2].After(now.Add(time.Second)) {
		t.Errorf("sends due now wait behind a later one: %v", slots)
	}
	if err := l.Release(ctx, "mateo", "acme", "t-1"); err != nil {
		t.Fatal(err)
	}
	if got := reserve(t, l, "acme", now, 1, "u")[0]; !got.Equal(slots[1]) {
		t.Errorf("after t-1 was released, a new send got %s, want its slot %s", got, slots[1])
	}
}

func TestBlockPushesSlotsPastTheProvidersWait(t *testing.T) {
	t.Parallel()
	l := setup(t, ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}}, "mateo:vip": {{Count: 100, Period: time.Second}}})
	ctx := context.Background()
	held := reserve(t, l, "acme", time.Now(), 1, "t")[0]
	until := time.Now().Add(2 * time.Second)
	if err := l.Block(ctx, "mateo", "acme", until); err != nil {
		t.Fatal(err)
	}
	moved := reserve(t, l, "acme", time.Now(), 1, "t")[0]
	if moved.Before(until) {
		t.Errorf("after a block until %s, t-0 keeps %s (was %s)", until, moved, held)
	}
	vip := reserve(t, l, "vip", time.Now(), 2, "v")
	if gap := vip[1].Sub(vip[0]); gap != 11*time.Millisecond {
		t.Errorf("the vip account's own limit spaces sends %s apart, want 11ms", gap)
	}
}

func TestNoLimitsNoLimiter(t *testing.T) {
	t.Parallel()
	var l *ratelimit.Limiter = ratelimit.New(nil, nil)
	at := time.Now().Add(time.Hour)
	if got, _, err := l.Reserve(context.Background(), "mateo", "acme", "t", at); err != nil || !got.Equal(at) {
		t.Errorf("without limits: %s, %v; want the due time", got, err)
	}
}
