package ratelimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/ratelimit"
)

// ReserveMany, with its sends appended at the end of the last run, books
// as Reserve does one send at a time, for random calendars and batches:
// the same slots, the same bookings and runs, and expiry times within a
// second of each other; some with a second spacing in use.
func TestReserveManyBooksAsReserveDoesOneByOneAtRandom(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	ctx := context.Background()
	limits := []ratelimit.Limits{
		tenPerSecond,
		twoPerSecond,
		{"mateo": {{Count: 10, Period: time.Second}, {Count: 14, Period: 2 * time.Second}}},
		{"mateo": {{Count: 10, Period: time.Second}, {Count: 25, Period: 5 * time.Second}, {Count: 60, Period: 30 * time.Second}}},
	}
	const rounds = 200
	for round := range rounds {
		r := rand.New(rand.NewPCG(uint64(round), 7))
		lim := limits[r.IntN(len(limits))]
		l := ratelimit.New(rdb, lim)
		acme, beta := fmt.Sprint("acme", round), fmt.Sprint("beta", round)
		x := future()
		// A calendar: a few chains and single sends.
		var prepared []string
		for i := range r.IntN(40) {
			id := fmt.Sprint("p", i)
			at := x.Add(time.Duration(r.Int64N(int64(6 * time.Second))))
			if r.IntN(3) == 0 && i > 0 {
				at = x // a chain
			}
			if _, _, err := l.Reserve(ctx, "mateo", acme, id, at); err != nil {
				t.Fatal(err)
			}
			prepared = append(prepared, id)
		}
		if r.IntN(4) == 0 {
			// A RATE_LIMITS change rolling out: another spacing in use.
			other := ratelimit.New(rdb, limits[r.IntN(len(limits))])
			for i := range r.IntN(10) {
				id := fmt.Sprint("o", i)
				if _, _, err := other.Reserve(ctx, "mateo", acme, id, x.Add(time.Duration(r.Int64N(int64(6*time.Second))))); err != nil {
					t.Fatal(err)
				}
				prepared = append(prepared, id)
			}
		}
		for _, id := range prepared {
			if r.IntN(8) == 0 {
				if err := l.Release(ctx, "mateo", acme, id); err != nil {
					t.Fatal(err)
				}
			}
		}
		if r.IntN(5) == 0 {
			if err := l.Block(ctx, "mateo", acme, x.Add(time.Duration(r.Int64N(int64(3*time.Second))))); err != nil {
				t.Fatal(err)
			}
		}
		copyCalendar(t, rdb, acme, beta)
		// A batch: mostly a backlog due together, some at other times, some
		// sends already booked or listed twice.
		n := 1 + r.IntN(160)
		batch := make([]ratelimit.Send, n)
		at := x
		for i := range batch {
			id := fmt.Sprint("n", i)
			switch k := r.IntN(20); {
			case k == 0 && len(prepared) > 0:
				id = prepared[r.IntN(len(prepared))]
			case k == 1 && i > 0:
				id = batch[r.IntN(i)].TaskID
			}
			switch k := r.IntN(10); {
			case k == 0:
				at = x.Add(time.Duration(r.Int64N(int64(8 * time.Second))))
			case k == 1:
				at = at.Add(time.Duration(r.Int64N(int64(300 * time.Millisecond))))
			case k == 2:
				at = x.Add(-time.Duration(r.Int64N(int64(time.Second))))
			}
			batch[i] = ratelimit.Send{TaskID: id, At: at}
		}
		var want []ratelimit.Slot
		for _, s := range batch {
			at, booked, err := l.Reserve(ctx, "mateo", acme, s.TaskID, s.At)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, ratelimit.Slot{At: at, Booked: booked})
		}
		got, err := l.ReserveMany(ctx, "mateo", beta, batch)
		if err != nil {
			t.Fatal(err)
		}
		fail := false
		for i := range want {
			if got[i] != want[i] {
				fail = true
				t.Errorf("round %d (%v), send %d %s due %s: ReserveMany gave %s (booked %t), Reserve %s (booked %t)", round, lim["mateo"], i, batch[i].TaskID, batch[i].At.Format(time.StampMilli),
					got[i].At.Format(time.StampMilli), got[i].Booked, want[i].At.Format(time.StampMilli), want[i].Booked)
			}
		}
		if a, b := sortedSets(t, rdb, acme), sortedSets(t, rdb, beta); fmt.Sprint(a) != fmt.Sprint(b) {
			fail = true
			t.Errorf("round %d (%v): the calendars differ:\nReserve     %v\nReserveMany %v", round, lim["mateo"], a, b)
		}
		keys, err := rdb.Keys(ctx, "punctual:rl:{mateo:"+acme+"}:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, ka := range keys {
			k := strings.TrimPrefix(ka, "punctual:rl:{mateo:"+acme+"}:")
			ea := expiry(t, rdb, ka)
			eb := expiry(t, rdb, "punctual:rl:{mateo:"+beta+"}:"+k)
			if d := ea.Sub(eb); d > time.Second || d < -time.Second {
				fail = true
				t.Errorf("round %d (%v): %s expire at %s after Reserve, %s after ReserveMany", round, lim["mateo"], k, ea.Format(time.StampMilli), eb.Format(time.StampMilli))
			}
		}
		if fail {
			return
		}
	}
}

// expiry returns when key expires; zero when it has no TTL or is missing.
func expiry(t *testing.T, rdb *redis.Client, key string) time.Time {
	t.Helper()
	d, err := rdb.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if d < 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}
