package ratelimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/ratelimit"
)

// sends returns n sends named prefix-0.. due at each time of at in turn.
func sends(prefix string, n int, at ...time.Time) []ratelimit.Send {
	s := make([]ratelimit.Send, n)
	for i := range s {
		s[i] = ratelimit.Send{TaskID: fmt.Sprintf("%s-%d", prefix, i), At: at[i%len(at)]}
	}
	return s
}

// copyCalendar makes the calendar of account to a copy of from's, TTLs
// included.
func copyCalendar(t *testing.T, rdb *redis.Client, from, to string) {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "punctual:rl:{mateo:"+from+"}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		dst := strings.Replace(k, "{mateo:"+from+"}", "{mateo:"+to+"}", 1)
		if err := rdb.Copy(ctx, k, dst, 0, true).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// sortedSets returns the members and scores of the sorted sets of an
// account's calendar but its spacings (scored by when they were last
// used), by key without the account.
func sortedSets(t *testing.T, rdb *redis.Client, account string) map[string][]redis.Z {
	t.Helper()
	ctx := context.Background()
	tag := "punctual:rl:{mateo:" + account + "}:"
	keys, err := rdb.Keys(ctx, tag+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string][]redis.Z{}
	for _, k := range keys {
		if k == tag+"runs" || rdb.Type(ctx, k).Val() != "zset" {
			continue
		}
		sets[strings.TrimPrefix(k, tag)] = rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
	}
	return sets
}

func TestReserveManyBooksAsReserveDoesOneByOne(t *testing.T) {
	t.Parallel()
	withDay := ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}, {Count: 40, Period: 24 * time.Hour}}}
	for _, tc := range []struct {
		name   string
		limits ratelimit.Limits
		// prepare books acme's calendar; its result is copied to beta.
		prepare func(t *testing.T, l *ratelimit.Limiter)
		// batch returns the sends to book.
		batch func() []ratelimit.Send
		// check checks the slots against what is known of them besides.
		check func(t *testing.T, slots []ratelimit.Slot)
	}{{
		name:    "an empty calendar, sends due together",
		limits:  tenPerSecond,
		prepare: func(*testing.T, *ratelimit.Limiter) {},
		batch:   func() []ratelimit.Send { return sends("new", 20, future()) },
		check: func(t *testing.T, slots []ratelimit.Slot) {
			checkChain(t, slots, s10perSecond)
		},
	}, {
		name:   "a dense backlog, all due now",
		limits: tenPerSecond,
		prepare: func(t *testing.T, l *ratelimit.Limiter) {
			reserve(t, l, "acme", time.Now(), 30, "backlog")
		},
		batch: func() []ratelimit.Send { return sends("new", 40, time.Now()) },
		check: func(t *testing.T, slots []ratelimit.Slot) {
			checkChain(t, slots, s10perSecond)
		},
	}, {
		name:    "sends due at spread times",
		limits:  tenPerSecond,
		prepare: func(t *testing.T, l *ratelimit.Limiter) { spread(t, l, "old", 1) },
		batch: func() []ratelimit.Send {
			x, r := future(), rand.New(rand.NewPCG(3, 4))
			s := sends("new", 60, x)
			for i := range s {
				s[i].At = x.Add(time.Duration(r.Int64N(int64(5 * time.Second))))
			}
			return s
		},
	}, {
		name:   "sends already booked, one of them twice",
		limits: tenPerSecond,
		prepare: func(t *testing.T, l *ratelimit.Limiter) {
			reserve(t, l, "acme", future(), 10, "t")
		},
		batch: func() []ratelimit.Send {
			x := future()
			return []ratelimit.Send{
				{TaskID: "t-3", At: x},                      // keeps its time
				{TaskID: "new", At: x},                      // after the chain
				{TaskID: "t-5", At: x.Add(5 * time.Second)}, // moves later, freeing its time
				{TaskID: "other", At: x},                    // takes the time t-5 freed
				{TaskID: "new", At: x},                      // keeps the booking it just made
			}
		},
		check: func(t *testing.T, slots []ratelimit.Slot) {
			if b := []bool{false, true, true, true, false}; !slices.EqualFunc(slots, b, func(s ratelimit.Slot, b bool) bool { return s.Booked == b }) {
				t.Errorf("booked %v, want %v", slots, b)
			}
			if !slots[4].At.Equal(slots[1].At) || !slots[3].At.Equal(slots[0].At.Add(2*s10perSecond)) {
				t.Errorf("slots %v: want new held, and other at t-5's freed time", slots)
			}
		},
	}, {
		name:   "a full day window",
		limits: withDay,
		prepare: func(t *testing.T, l *ratelimit.Limiter) {
			awayFromEdge(24*time.Hour, time.Minute)
			reserve(t, l, "acme", time.Now(), 35, "t")
		},
		batch: func() []ratelimit.Send { return sends("new", 10, time.Now()) },
		check: func(t *testing.T, slots []ratelimit.Slot) {
			next := time.UnixMilli(slots[0].At.UnixMilli() / 86_400_000 * 86_400_000).Add(24 * time.Hour)
			if !slots[5].At.Equal(next) {
				t.Errorf("the 41st send of the day went at %s, want the next day's start, %s", slots[5].At, next)
			}
		},
	}, {
		name:   "a day window filled in the batch, a send of it booked again",
		limits: withDay,
		prepare: func(t *testing.T, l *ratelimit.Limiter) {
			awayFromEdge(24*time.Hour, time.Minute)
			reserve(t, l, "acme", time.Now(), 39, "t")
		},
		batch: func() []ratelimit.Send {
			return []ratelimit.Send{
				{TaskID: "new", At: time.Now()},                       // the day's 40th
				{TaskID: "t-3", At: time.Now().Add(30 * time.Second)}, // later, still counted once
				{TaskID: "other", At: time.Now()},                     // the next day
			}
		},
		check: func(t *testing.T, slots []ratelimit.Slot) {
			day := func(at time.Time) int64 { return at.UnixMilli() / 86_400_000 }
			if d := day(slots[0].At); day(slots[1].At) != d || day(slots[2].At) != d+1 {
				t.Errorf("slots %v: want the moved send on the full day, the next send on the next", slots)
			}
		},
	}, {
		name:   "a window filled and opened again while sends go at the end of the chain",
		limits: ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}, {Count: 25, Period: 5 * time.Second}}},
		prepare: func(t *testing.T, l *ratelimit.Limiter) {
			reserve(t, l, "acme", time.Now(), 10, "t")
		},
		batch: func() []ratelimit.Send { return sends("new", 80, time.Now()) },
		check: func(t *testing.T, slots []ratelimit.Slot) {
			per := map[int64]int{}
			for _, s := range slots {
				per[s.At.UnixMilli()/5000]++
			}
			for p, n := range per {
				if n > 25 {
					t.Errorf("%d sends in the 5 s from %s, want at most 25", n, time.UnixMilli(p*5000).Format(time.StampMilli))
				}
			}
		},
	}, {
		name:    "a send at the end of the chain asked for again, later, and a send due after a gap",
		limits:  tenPerSecond,
		prepare: func(t *testing.T, l *ratelimit.Limiter) { reserve(t, l, "acme", future(), 5, "t") },
		batch: func() []ratelimit.Send {
			x := future()
			return []ratelimit.Send{
				{TaskID: "a", At: x},                       // after the chain
				{TaskID: "b", At: x},                       // after a
				{TaskID: "c", At: x.Add(10 * time.Second)}, // a run of its own
				{TaskID: "a", At: x.Add(3 * time.Second)},  // moves, freeing its time
				{TaskID: "d", At: x},                       // takes the time a freed
				{TaskID: "e", At: x.Add(10 * time.Second)}, // after c
			}
		},
		check: func(t *testing.T, slots []ratelimit.Slot) {
			if !slots[4].At.Equal(slots[0].At) || !slots[5].At.Equal(slots[2].At.Add(s10perSecond)) {
				t.Errorf("slots %v: want d at a's freed time, e just after c", slots)
			}
		},
	}, {
		name:   "a provider's block",
		limits: tenPerSecond,
		prepare: func(t *testing.T, l *ratelimit.Limiter) {
			if err := l.Block(context.Background(), "mateo", "acme", time.Now().Add(3*time.Second)); err != nil {
				t.Fatal(err)
			}
			spread(t, l, "old", 2)
		},
		batch: func() []ratelimit.Send { return sends("new", 20, time.Now()) },
		check: func(t *testing.T, slots []ratelimit.Slot) {
			if until := time.Now().Add(2 * time.Second); slots[0].At.Before(until) {
				t.Errorf("the first send went at %s, inside the block", slots[0].At)
			}
		},
	}, {
		name:    "more sends than one script call books",
		limits:  tenPerSecond,
		prepare: func(t *testing.T, l *ratelimit.Limiter) { spread(t, l, "old", 3) },
		batch:   func() []ratelimit.Send { return sends("new", 600, future(), future().Add(40*time.Second)) },
		check: func(t *testing.T, slots []ratelimit.Slot) {
			at := make([]time.Time, len(slots))
			for i, s := range slots {
				at[i] = s.At
			}
			checkSpacing(t, at, s10perSecond)
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb := setupRedis(t)
			l := ratelimit.New(rdb, tc.limits)
			tc.prepare(t, l)
			copyCalendar(t, rdb, "acme", "beta")
			batch := tc.batch()
			var want []ratelimit.Slot
			for _, s := range batch {
				at, booked, err := l.Reserve(context.Background(), "mateo", "acme", s.TaskID, s.At)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, ratelimit.Slot{At: at, Booked: booked})
			}
			got, err := l.ReserveMany(context.Background(), "mateo", "beta", batch)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d slots for %d sends", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("send %s due %s: ReserveMany gave %s (booked %t), Reserve %s (booked %t)", batch[i].TaskID, batch[i].At.Format(time.StampMilli),
						got[i].At.Format(time.StampMilli), got[i].Booked, want[i].At.Format(time.StampMilli), want[i].Booked)
				}
			}
			if a, b := sortedSets(t, rdb, "acme"), sortedSets(t, rdb, "beta"); fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("the calendars differ:\nReserve     %v\nReserveMany %v", a, b)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

// spread books 50 sends of acme at random times over the next 10 seconds.
func spread(t *testing.T, l *ratelimit.Limiter, prefix string, seed uint64) {
	t.Helper()
	x, r := future(), rand.New(rand.NewPCG(seed, 0))
	for i := range 50 {
		book(t, l, fmt.Sprint(prefix, i), x.Add(time.Duration(r.Int64N(int64(10*time.Second)))))
	}
}

// checkChain fails t unless slots are new bookings gap apart, in order.
func checkChain(t *testing.T, slots []ratelimit.Slot, gap time.Duration) {
	t.Helper()
	for i, s := range slots {
		if want := slots[0].At.Add(time.Duration(i) * gap); !s.Booked || !s.At.Equal(want) {
			t.Errorf("send %d: %s (booked %t), want a new booking at %s", i, s.At.Format(time.StampMilli), s.Booked, want.Format(time.StampMilli))
		}
	}
}

func TestReserveManyAndReserveTogetherKeepTheSpacing(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	const hosts, batches, each = 4, 5, 12
	x := future()
	times := make([][]time.Time, 2*hosts)
	var wg sync.WaitGroup
	for h := range hosts {
		l := ratelimit.New(rdb, tenPerSecond)
		wg.Go(func() {
			for b := range batches {
				slots, err := l.ReserveMany(context.Background(), "mateo", "acme", sends(fmt.Sprintf("many-%d-%d", h, b), each, x, x.Add(time.Second)))
				if err != nil {
					t.Error(err)
					return
				}
				for _, s := range slots {
					times[h] = append(times[h], s.At)
				}
			}
		})
		wg.Go(func() {
			for i := range batches * each {
				at, _, err := l.Reserve(context.Background(), "mateo", "acme", fmt.Sprintf("one-%d-%d", h, i), x.Add(time.Duration(i)*50*time.Millisecond))
				if err != nil {
					t.Error(err)
					return
				}
				times[hosts+h] = append(times[hosts+h], at)
			}
		})
	}
	wg.Wait()
	all := slices.Concat(times...)
	if len(all) != 2*hosts*batches*each {
		t.Fatalf("%d bookings, want %d", len(all), 2*hosts*batches*each)
	}
	checkCalendar(t, rdb, all, s10perSecond)
}

func TestReserveManyReturnsTheSlotsBeforeASendFindingNoTime(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	// The embedded Redis, when redis-server is not installed, takes tens of
	// seconds for the 10,000 steps where redis-server takes milliseconds.
	rdb.Options().ReadTimeout = 5 * time.Minute
	l := ratelimit.New(rdb, ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}, {Count: 1, Period: time.Second}}})
	// Every second for 6000 s holds its one send: a send due at the first
	// looks past more than 10000 runs and windows.
	start := time.UnixMilli(future().UnixMilli() / 1000 * 1000)
	full := make([]ratelimit.Send, 6000)
	for i := range full {
		full[i] = ratelimit.Send{TaskID: fmt.Sprint("full-", i), At: start.Add(time.Duration(i) * time.Second)}
	}
	if _, err := l.ReserveMany(context.Background(), "mateo", "acme", full); err != nil {
		t.Fatal(err)
	}
	later := start.Add(time.Hour * 3)
	slots, err := l.ReserveMany(context.Background(), "mateo", "acme", []ratelimit.Send{
		{TaskID: "later", At: later}, {TaskID: "stuck", At: start}, {TaskID: "after", At: later},
	})
	if err == nil || !strings.Contains(err.Error(), "send stuck: no free time") {
		t.Errorf("error %v, want one naming the send that found no time", err)
	}
	if len(slots) != 1 || !slots[0].Booked || !slots[0].At.Equal(later) {
		t.Errorf("slots %v, want the first send's, booked at %s", slots, later)
	}
	if err := rdb.ZScore(context.Background(), "punctual:rl:{mateo:acme}:bookings", "after").Err(); err != redis.Nil {
		t.Errorf("the send after the one that found no time: %v, want it not booked", err)
	}
}

func TestReserveManyWithoutLimits(t *testing.T) {
	t.Parallel()
	l := setup(t, ratelimit.Limits{"lc": {{Count: 10, Period: time.Second}}})
	at := time.Now().Add(time.Hour)
	batch := sends("t", 3, at, at.Add(time.Microsecond))
	for _, l := range []*ratelimit.Limiter{l, nil} {
		slots, err := l.ReserveMany(context.Background(), "mateo", "acme", batch)
		if err != nil || len(slots) != 3 {
			t.Fatalf("without limits: %v, %v", slots, err)
		}
		for i, s := range slots {
			if !s.At.Equal(batch[i].At) || s.Booked {
				t.Errorf("send %d due %s without limits: %s (booked %t), want its due time", i, batch[i].At, s.At, s.Booked)
			}
		}
	}
}

// BenchmarkReserveMany books 64 sends due in the middle of a backlog of
// one account, as 64 calls of Reserve and as one of ReserveMany, and
// reports the time and the Redis CPU (of its scripts) per booking.
func BenchmarkReserveMany(b *testing.B) {
	const perOp = 64
	for _, bc := range []struct {
		name string
		book func(l *ratelimit.Limiter, batch []ratelimit.Send) ([]ratelimit.Slot, error)
	}{
		{"Reserve", func(l *ratelimit.Limiter, batch []ratelimit.Send) ([]ratelimit.Slot, error) {
			var slots []ratelimit.Slot
			for _, s := range batch {
				at, booked, err := l.Reserve(context.Background(), "mateo", "acme", s.TaskID, s.At)
				if err != nil {
					return nil, err
				}
				slots = append(slots, ratelimit.Slot{At: at, Booked: booked})
			}
			return slots, nil
		}},
		{"ReserveMany", func(l *ratelimit.Limiter, batch []ratelimit.Send) ([]ratelimit.Slot, error) {
			return l.ReserveMany(context.Background(), "mateo", "acme", batch)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rdb := setupRedis(b)
			// A daily window, as the default limits have, that a run of
			// a few seconds does not fill.
			l := ratelimit.New(rdb, ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}, {Count: 800_000, Period: 24 * time.Hour}}})
			x := future()
			chain := reserve(b, l, "acme", x, 1000, "chain")
			end := chain[len(chain)-1]
			if err := rdb.ConfigResetStat(context.Background()).Err(); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				slots, err := bc.book(l, sends(fmt.Sprint("new-", i), perOp, chain[500]))
				if err != nil {
					b.Fatal(err)
				}
				if want := end.Add(perOp * s10perSecond); !slots[perOp-1].At.Equal(want) {
					b.Fatalf("booking %d: %s, want just after the chain, %s", i, slots[perOp-1].At, want)
				}
				end = slots[perOp-1].At
				i++
			}
			bookings := float64(b.N * perOp)
			usec, calls := scriptStats(b, rdb)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/bookings, "ns/booking")
			b.ReportMetric(usec/bookings, "redis-µs/booking")
			b.ReportMetric(calls/bookings, "redis-calls/booking")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// scriptStats returns the µs Redis spent running scripts, and how many
// commands the scripts called, since its stats were reset.
func scriptStats(b *testing.B, rdb *redis.Client) (usec, calls float64) {
	b.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(info) {
		name, stats, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":")
		if !ok || name == "config|resetstat" || name == "info" {
			continue
		}
		for field := range strings.SplitSeq(stats, ",") {
			k, v, _ := strings.Cut(field, "=")
			n, _ := strconv.ParseFloat(v, 64)
			switch {
			case k == "usec" && (name == "evalsha" || name == "eval"):
				usec += n
			case k == "calls" && name != "evalsha" && name != "eval":
				calls += n
			}
		}
	}
	return usec, calls
}
