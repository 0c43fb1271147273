package ratelimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/ratelimit"
)

// Spacings of the rates below: 3% wider than the rate's interval, in whole ms.
const (
	s10perSecond = 103 * time.Millisecond // 10/s
	s2perSecond  = 515 * time.Millisecond // 2/s, Mateo's
)

var (
	tenPerSecond = ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}}}
	twoPerSecond = ratelimit.Limits{"mateo": {{Count: 2, Period: time.Second}}}
)

// setupRedis returns a client of a fresh Redis.
func setupRedis(t testing.TB) *redis.Client {
	t.Helper()
	conn := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: conn.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func setup(t testing.TB, limits ratelimit.Limits) *ratelimit.Limiter {
	t.Helper()
	return ratelimit.New(setupRedis(t), limits)
}

// book books the send id of acme due at, and returns its time.
func book(t testing.TB, l *ratelimit.Limiter, id string, at time.Time) time.Time {
	t.Helper()
	got, _, err := l.Reserve(context.Background(), "mateo", "acme", id, at)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// reserve books n sends of account due at and returns their times.
func reserve(t testing.TB, l *ratelimit.Limiter, account string, at time.Time, n int, prefix string) []time.Time {
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

// future returns a time a minute from now in whole ms: bookings there
// depend on nothing but each other.
func future() time.Time {
	return time.UnixMilli(time.Now().Add(time.Minute).UnixMilli())
}

// checkSpacing fails t when two of times are closer than gap.
func checkSpacing(t *testing.T, times []time.Time, gap time.Duration) {
	t.Helper()
	sorted := slices.SortedFunc(slices.Values(times), time.Time.Compare)
	for i := 1; i < len(sorted); i++ {
		if d := sorted[i].Sub(sorted[i-1]); d < gap {
			t.Errorf("bookings at %s and %s, %s apart: closer than %s", sorted[i-1].Format(time.StampMilli), sorted[i].Format(time.StampMilli), d, gap)
		}
	}
}

// checkCalendar fails t unless acme's calendar holds exactly the bookings
// at times, no two closer than gap.
func checkCalendar(t *testing.T, rdb *redis.Client, times []time.Time, gap time.Duration) {
	t.Helper()
	checkSpacing(t, times, gap)
	stored, err := rdb.ZRangeWithScores(context.Background(), "punctual:rl:{mateo:acme}:bookings", 0, -1).Result()
	if err != nil || len(stored) != len(times) {
		t.Fatalf("Redis holds %d bookings (%v), want %d", len(stored), err, len(times))
	}
	want := slices.SortedFunc(slices.Values(times), time.Time.Compare)
	for i, z := range stored {
		if got := time.UnixMilli(int64(z.Score)); !got.Equal(want[i]) {
			t.Errorf("booking %d stored at %s, the calls returned %s", i, got, want[i])
		}
	}
}

// redisNow returns Redis's clock.
func redisNow(t *testing.T, rdb *redis.Client) time.Time {
	t.Helper()
	now, err := rdb.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// waitFor waits until Redis's clock is past at, for at most 10 s.
func waitFor(t *testing.T, rdb *redis.Client, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !redisNow(t, rdb).After(at) {
		if time.Now().After(deadline) {
			t.Fatalf("Redis's clock did not reach %s", at)
		}
		time.Sleep(time.Millisecond)
	}
}

// awayFromEdge returns, once the current window of period (aligned to the
// Unix epoch) has at least margin left, the start of that window.
func awayFromEdge(period, margin time.Duration) time.Time {
	start := time.UnixMilli(time.Now().UnixMilli() / period.Milliseconds() * period.Milliseconds())
	if left := time.Until(start.Add(period)); left < margin {
		<-time.After(left)
		start = start.Add(period)
	}
	return start
}

// calendarKeys returns the keys Redis holds for acme's calendar.
func calendarKeys(t *testing.T, rdb *redis.Client) []string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), "punctual:rl:{mateo:acme}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestALoneSendBooksItsOwnTime(t *testing.T) {
	t.Parallel()
	l := setup(t, tenPerSecond)
	x := future()
	for _, tc := range []struct {
		name     string
		at, want time.Time
	}{
		{"lone, between two ms", x.Add(300 * time.Microsecond), x.Add(time.Millisecond)},
		{"exactly the spacing after", x.Add(time.Millisecond + s10perSecond), x.Add(time.Millisecond + s10perSecond)},
		{"far after", x.Add(time.Second), x.Add(time.Second)},
		{"the spacing before", x.Add(time.Millisecond - s10perSecond), x.Add(time.Millisecond - s10perSecond)},
		{"closer than the spacing after", x.Add(time.Second + 50*time.Millisecond), x.Add(time.Second + s10perSecond)},
		{"closer than the spacing before", x.Add(time.Second - 50*time.Millisecond), x.Add(time.Second + 2*s10perSecond)},
	} {
		if got := book(t, l, tc.name, tc.at); !got.Equal(tc.want) {
			t.Errorf("%s: asked %s, booked %s; want %s", tc.name, tc.at.Format(time.StampMicro), got.Format(time.StampMilli), tc.want.Format(time.StampMilli))
		}
	}
}

func TestASendFitsAGapOfTwiceTheSpacing(t *testing.T) {
	t.Parallel()
	l := setup(t, tenPerSecond)
	x := future()
	book(t, l, "a", x)
	book(t, l, "b", x.Add(2*s10perSecond))
	if got := book(t, l, "between a and b", x.Add(time.Millisecond)); !got.Equal(x.Add(s10perSecond)) {
		t.Errorf("in a gap of twice the spacing: %s, want %s", got.Format(time.StampMilli), x.Add(s10perSecond).Format(time.StampMilli))
	}
	y := x.Add(time.Minute)
	book(t, l, "c", y)
	book(t, l, "d", y.Add(2*s10perSecond-time.Millisecond))
	want := y.Add(3*s10perSecond - time.Millisecond)
	if got := book(t, l, "between c and d", y.Add(time.Millisecond)); !got.Equal(want) {
		t.Errorf("a gap 1 ms short of twice the spacing: %s, want after d, %s", got.Format(time.StampMilli), want.Format(time.StampMilli))
	}
}

func TestNeverEarly(t *testing.T) {
	t.Parallel()
	l := setup(t, tenPerSecond)
	x := future()
	r := rand.New(rand.NewPCG(1, 2))
	var times []time.Time
	for i := range 300 {
		at := x.Add(time.Duration(r.Int64N(int64(20 * time.Second)))) // fractions of a ms too
		got := book(t, l, fmt.Sprint(i), at)
		if got.Before(at) {
			t.Errorf("send %d due %s booked %s, before it", i, at.Format(time.StampMicro), got.Format(time.StampMilli))
		}
		times = append(times, got)
	}
	checkSpacing(t, times, s10perSecond)
}

func TestSendsDueTogetherAreSpacedAtTheRate(t *testing.T) {
	t.Parallel()
	l := setup(t, twoPerSecond)
	start := future()
	slots := reserve(t, l, "acme", start, 6, "t")
	for i, slot := range slots {
		// 3% wider than 500ms, so that a send a little late keeps to the rate.
		if want := start.Add(time.Duration(i) * s2perSecond); !slot.Equal(want) {
			t.Errorf("send %d booked %s, want %s", i, slot.Format(time.StampMilli), want.Format(time.StampMilli))
		}
	}
	again, booked, err := l.Reserve(context.Background(), "mateo", "acme", "t-0", start)
	if err != nil || !again.Equal(slots[0]) || booked {
		t.Errorf("booking t-0 again gave %s (booked %t, %v), want its time %s held", again, booked, err, slots[0])
	}
}

func TestLongerWindowsHoldTheirCount(t *testing.T) {
	t.Parallel()
	l := setup(t, ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}, {Count: 3, Period: time.Hour}}})
	hour := awayFromEdge(time.Hour, 10*time.Second)
	slots := reserve(t, l, "acme", time.Now(), 7, "t")
	for i, want := range []time.Time{
		hour.Add(time.Hour),
		hour.Add(time.Hour + s10perSecond),
		hour.Add(time.Hour + 2*s10perSecond),
		hour.Add(2 * time.Hour),
	} {
		if !slots[3+i].Equal(want) {
			t.Errorf("send %d, after an hour holding three: %s, want %s", 4+i, slots[3+i], want)
		}
	}
	checkSpacing(t, slots[:3], s10perSecond)
	if slots[2].After(hour.Add(time.Hour)) {
		t.Errorf("the first three sends went after their hour: %v", slots[:3])
	}
}

func TestASkewedHostClockNeitherTrimsNorOverlaps(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	normal := ratelimit.New(rdb, tenPerSecond)
	ahead := ratelimit.New(rdb, tenPerSecond)
	ratelimit.SetClock(ahead, func() time.Time { return time.Now().Add(time.Hour) })
	x := future()
	first := reserve(t, normal, "acme", x, 5, "n")
	skewed := book(t, ahead, "ahead", x.Add(200*time.Millisecond))
	if want := first[4].Add(s10perSecond); !skewed.Equal(want) {
		t.Errorf("the host an hour ahead booked %s, want after the others' %s", skewed.Format(time.StampMilli), want.Format(time.StampMilli))
	}
	second := reserve(t, normal, "acme", x, 5, "m")
	checkSpacing(t, slices.Concat(first, []time.Time{skewed}, second), s10perSecond)
	for i, want := range first {
		got, booked, err := normal.Reserve(context.Background(), "mateo", "acme", fmt.Sprintf("n-%d", i), x)
		if err != nil || !got.Equal(want) || booked {
			t.Errorf("n-%d after the host ahead booked: %s (booked %t, %v), want its time %s kept", i, got, booked, err, want)
		}
	}
}

func TestBookingsOutliveARateChange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		old, new       ratelimit.Limits
		oldGap, newGap time.Duration
		firstAfter     time.Duration // of the new sends, after the first old one
	}{
		{"to a slower rate", tenPerSecond, twoPerSecond, s10perSecond, s2perSecond, 4*s10perSecond + s2perSecond},
		{"to a faster rate", twoPerSecond, tenPerSecond, s2perSecond, s10perSecond, s10perSecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb := setupRedis(t)
			before, after := ratelimit.New(rdb, tc.old), ratelimit.New(rdb, tc.new)
			x := future()
			old := reserve(t, before, "acme", x, 5, "old")
			made := reserve(t, after, "acme", x, 3, "new")
			if !made[0].Equal(x.Add(tc.firstAfter)) {
				t.Errorf("the first send under the new rate booked %s, want %s", made[0].Format(time.StampMilli), x.Add(tc.firstAfter).Format(time.StampMilli))
			}
			apart := func(by string, gap time.Duration, mine, theirs []time.Time) {
				t.Helper()
				for _, n := range mine {
					for _, o := range theirs {
						if d := n.Sub(o).Abs(); d < gap {
							t.Errorf("the %s rate booked %s, %s from %s: closer than its %s", by, n.Format(time.StampMilli), d, o.Format(time.StampMilli), gap)
						}
					}
				}
			}
			apart("new", tc.newGap, made, old)
			checkSpacing(t, made, tc.newGap)
			for i, want := range old {
				got, booked, err := before.Reserve(context.Background(), "mateo", "acme", fmt.Sprintf("old-%d", i), x)
				if err != nil || !got.Equal(want) || booked {
					t.Errorf("old-%d after the change: %s (booked %t, %v), want its time %s kept", i, got, booked, err, want)
				}
			}
			// The old rate, still running elsewhere while the change rolls
			// out, keeps its own spacing from the new bookings.
			last := book(t, before, "old-again", x)
			apart("old", tc.oldGap, []time.Time{last}, slices.Concat(old, made))
		})
	}
}

func TestALatePickupIsCountedOnce(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	l := ratelimit.New(rdb, ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}, {Count: 3, Period: time.Hour}}})
	ctx := context.Background()
	hour := awayFromEdge(time.Hour, 10*time.Second)
	due := time.Now()
	first := book(t, l, "late", due)
	// Picked up well past its time (more than 2% of the second late):
	waitFor(t, rdb, first.Add(4*s10perSecond))
	again, booked, err := l.Reserve(ctx, "mateo", "acme", "late", due)
	if err != nil || !booked || !again.After(first) {
		t.Fatalf("a late pickup kept or failed its booking: %s (booked %t, %v), was %s", again, booked, err, first)
	}
	b, c := book(t, l, "b", due), book(t, l, "c", due)
	if next := hour.Add(time.Hour); !c.Before(next) || b.Sub(again) < s10perSecond {
		t.Errorf("after a re-booked send, b and c went at %s and %s; want both in the hour holding three, before %s", b, c, next)
	}
	n, err := rdb.ZCount(ctx, "punctual:rl:{mateo:acme}:bookings", fmt.Sprint(hour.UnixMilli()), fmt.Sprintf("(%d", hour.Add(time.Hour).UnixMilli())).Result()
	if err != nil || n != 3 {
		t.Errorf("the hour counts %d sends (%v), want the 3 distinct ones", n, err)
	}
	if d := book(t, l, "d", due); !d.Equal(hour.Add(time.Hour)) {
		t.Errorf("a fourth send in the hour holding three went at %s, want the next hour's start", d)
	}
}

func TestANearBookingKeepsTheFarOnesTTL(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	l := ratelimit.New(rdb, ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}, {Count: 1000, Period: time.Hour}}})
	far := book(t, l, "far", time.Now().Add(2*time.Hour))
	book(t, l, "near", time.Now())
	// The far booking counts in its hour until an hour after it.
	need := time.Until(far) + time.Hour - time.Minute
	keys := calendarKeys(t, rdb)
	if len(keys) == 0 {
		t.Fatal("no calendar keys")
	}
	for _, k := range keys {
		if ttl := rdb.PTTL(context.Background(), k).Val(); ttl < need {
			t.Errorf("%s expires in %s, before the far booking's window ends (%s)", k, ttl, need)
		}
	}
}

func TestPastWindowsLeaveNothingBehind(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	// One send per 6 ms (5 ms, 3% wide), at most 2 in each 30 ms window.
	l := ratelimit.New(rdb, ratelimit.Limits{"mateo": {{Count: 1, Period: 5 * time.Millisecond}, {Count: 2, Period: 30 * time.Millisecond}}})
	slots := reserve(t, l, "acme", time.Now(), 20, "t")
	waitFor(t, rdb, slots[len(slots)-1].Add(100*time.Millisecond))
	book(t, l, "now", time.Now())
	ctx := context.Background()
	entries := 0
	for _, k := range calendarKeys(t, rdb) {
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "zset":
			entries += int(rdb.ZCard(ctx, k).Val())
		case "hash":
			entries += int(rdb.HLen(ctx, k).Val())
		default:
			entries++
		}
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("%s does not expire (%s)", k, ttl)
		}
	}
	// The new booking, its run, and the spacing its runs are kept for.
	if entries > 3 {
		t.Errorf("after 20 sends over 10 windows, all past, the calendar holds %d entries, want at most 3", entries)
	}
}

func TestReleaseFreesATimeInADenseChain(t *testing.T) {
	t.Parallel()
	l := setup(t, tenPerSecond)
	ctx := context.Background()
	x := future()
	chain := reserve(t, l, "acme", x, 10, "t")
	if err := l.Release(ctx, "mateo", "acme", "t-5"); err != nil {
		t.Fatal(err)
	}
	if got := book(t, l, "u", x); !got.Equal(chain[5]) {
		t.Errorf("after t-5 was released, a new send got %s, want its time %s", got.Format(time.StampMilli), chain[5].Format(time.StampMilli))
	}
	if got, want := book(t, l, "v", x), chain[9].Add(s10perSecond); !got.Equal(want) {
		t.Errorf("the next send got %s, want after the chain, %s", got.Format(time.StampMilli), want.Format(time.StampMilli))
	}
	if err := l.Release(ctx, "mateo", "acme", "never-booked"); err != nil {
		t.Errorf("releasing a send without a booking: %v", err)
	}
}

func TestFutureSendsDoNotHoldBackPresentOnes(t *testing.T) {
	t.Parallel()
	l := setup(t, tenPerSecond)
	ctx := context.Background()
	due := time.Now().Add(10 * time.Second)
	later, booked, err := l.Reserve(ctx, "mateo", "acme", "later", due)
	if err != nil || !booked || later.Before(due) || !later.Before(due.Add(time.Millisecond)) {
		t.Errorf("a send due at %s booked %s (booked %t, %v)", due.Format(time.StampMicro), later.Format(time.StampMilli), booked, err)
	}
	if again, booked, _ := l.Reserve(ctx, "mateo", "acme", "later", due); !again.Equal(later) || booked {
		t.Errorf("booked again: %s (booked %t), want its time %s held", again, booked, later)
	}
	now := time.Now()
	if slots := reserve(t, l, "acme", now, 3, "t"); slots[2].After(now.Add(time.Second)) {
		t.Errorf("sends due now wait behind a later one: %v", slots)
	}
}

func TestConcurrentBookingsKeepTheSpacing(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	const hosts, each = 6, 20
	x := future()
	times := make([][]time.Time, hosts)
	var wg sync.WaitGroup
	for h := range hosts {
		l := ratelimit.New(rdb, tenPerSecond)
		wg.Go(func() {
			for i := range each {
				at, _, err := l.Reserve(context.Background(), "mateo", "acme", fmt.Sprintf("%d-%d", h, i), x.Add(time.Duration(i)*50*time.Millisecond))
				if err != nil {
					t.Error(err)
					return
				}
				times[h] = append(times[h], at)
			}
		})
	}
	wg.Wait()
	all := slices.Concat(times...)
	if len(all) != hosts*each {
		t.Fatalf("%d bookings, want %d", len(all), hosts*each)
	}
	checkCalendar(t, rdb, all, s10perSecond)
}

func TestAccountsDoNotWaitForEachOther(t *testing.T) {
	t.Parallel()
	l := setup(t, twoPerSecond)
	x := future()
	reserve(t, l, "acme", x, 1000, "a")
	if beta := reserve(t, l, "beta", x, 1, "b")[0]; !beta.Equal(x) {
		t.Errorf("beta's lone send due %s waits until %s behind acme's backlog", x, beta)
	}
	w, err := l.Waiting(context.Background(), "mateo", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if w.Sends != 1000 || !w.Next.Equal(x) || !w.BlockedUntil.IsZero() {
		t.Errorf("acme waiting %+v, want 1000 sends from %s", w, x)
	}
}

func TestAccountsListsTheCalendars(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	l := ratelimit.New(rdb, twoPerSecond)
	ctx := context.Background()
	// A calendar of the grid format that came before is not one any more.
	if err := rdb.ZAdd(ctx, "punctual:rl:{mateo:gone}:slots", redis.Z{Score: 1, Member: "t"}).Err(); err != nil {
		t.Fatal(err)
	}
	reserve(t, l, "acme", time.Now(), 1, "a")
	reserve(t, l, "beta", time.Now(), 1, "b")
	if got, err := l.Accounts(ctx); err != nil || !slices.Equal(got, []string{"mateo:acme", "mateo:beta"}) {
		t.Errorf("accounts %v (%v), want mateo:acme and mateo:beta", got, err)
	}
}

func TestOnARedisCluster(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.StartCluster(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	l := ratelimit.New(rdb, tenPerSecond)
	ctx := context.Background()
	x := future()
	accounts := []string{"acme", "beta", "gamma", "delta"}
	for _, a := range accounts {
		chain := reserve(t, l, a, x, 5, a)
		if err := l.Release(ctx, "mateo", a, a+"-2"); err != nil {
			t.Fatal(err)
		}
		if got := reserve(t, l, a, x, 1, "again")[0]; !chain[0].Equal(x) || !got.Equal(chain[2]) {
			t.Errorf("%s: chain %v, and after a release %s; want from %s, and the released time", a, chain, got, x)
		}
	}
	got, err := l.Accounts(ctx)
	if want := []string{"mateo:acme", "mateo:beta", "mateo:delta", "mateo:gamma"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("accounts %v (%v), want %v", got, err, want)
	}
}

func TestBlockPushesBookingsPastTheProvidersWait(t *testing.T) {
	t.Parallel()
	l := setup(t, ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}}, "mateo:vip": {{Count: 100, Period: time.Second}}})
	ctx := context.Background()
	held := reserve(t, l, "acme", time.Now(), 1, "t")[0]
	until := time.Now().Add(2 * time.Second)
	if err := l.Block(ctx, "mateo", "acme", until); err != nil {
		t.Fatal(err)
	}
	moved := reserve(t, l, "acme", time.Now(), 1, "t")[0]
	if moved.Before(until) || moved.After(until.Add(time.Millisecond)) {
		t.Errorf("after a block until %s, t-0 booked %s (was %s), want the block's end", until, moved, held)
	}
	if got, err := l.BlockedUntil(ctx, "mateo", "acme"); err != nil || got.Before(until) {
		t.Errorf("blocked until %s (%v), want %s", got, err, until)
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

// BenchmarkReserveBacklog books a send due in the middle of a dense chain
// of n bookings of one account, all due at once: it goes after the chain.
func BenchmarkReserveBacklog(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			l := ratelimit.New(setupRedis(b), ratelimit.Limits{"mateo": {{Count: 10, Period: time.Second}, {Count: 200_000, Period: 24 * time.Hour}}})
			x := future()
			chain := reserve(b, l, "acme", x, n, "chain")
			middle, end := chain[n/2], chain[n-1]
			i := 0
			for b.Loop() {
				if got := book(b, l, fmt.Sprint("new-", i), middle); !got.Equal(end.Add(s10perSecond)) {
					b.Fatalf("booking %d: %s, want just after the chain, %s", i, got, end.Add(s10perSecond))
				}
				end = end.Add(s10perSecond)
				i++
			}
		})
	}
}
