package ratelimit_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/ratelimit"
)

// lateEvening is 23:00 UTC at least a day from now: a day's window counted
// from midnight UTC would let sends at 23:00 and at 00:30 into two windows.
func lateEvening() time.Time {
	d := time.Now().UTC().Add(24 * time.Hour)
	return time.Date(d.Year(), d.Month(), d.Day(), 23, 0, 0, 0, time.UTC)
}

// capTo books the send id through mateo's account acme to recipients, due
// at, and returns its time.
func capTo(t *testing.T, c *ratelimit.Caps, account, id string, at time.Time, recipients ...string) time.Time {
	t.Helper()
	got, err := c.Reserve(context.Background(), "mateo", account, id, recipients, at)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func wantAt(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s booked at %s, want %s", what, got.Format(time.DateTime+".000"), want.Format(time.DateTime+".000"))
	}
}

// capStep is a send to book, when it is due and the time it should get,
// both after a start time.
type capStep struct {
	id          string
	asked, want time.Duration
}

// bookInTurn books steps in order, through account acme to recipient, and
// checks the time each gets.
func bookInTurn(t *testing.T, c *ratelimit.Caps, t0 time.Time, recipient string, steps ...capStep) {
	t.Helper()
	for _, s := range steps {
		wantAt(t, "send "+s.id+" due at +"+s.asked.String(), capTo(t, c, "acme", s.id, t0.Add(s.asked), recipient), t0.Add(s.want))
	}
}

func TestCapCountsAnyPeriodNotCalendarDays(t *testing.T) {
	t.Parallel()
	c := ratelimit.NewCaps(setupRedis(t), ratelimit.Limits{"": {{Count: 3, Period: 24 * time.Hour}}})
	t0 := lateEvening()
	// A send may go a second late: the fourth goes 24 h and 1 s after the first.
	const ana, day = "+14155552671", 24*time.Hour + time.Second
	bookInTurn(t, c, t0, ana,
		capStep{"1", 0, 0}, capStep{"2", 30 * time.Minute, 30 * time.Minute}, capStep{"3", 45 * time.Minute, 45 * time.Minute},
		// After midnight UTC: a new calendar day, but the same 24 h.
		capStep{"4", 90 * time.Minute, day}, capStep{"5", 90 * time.Minute, day + 30*time.Minute},
		// A send asked again keeps the time it holds.
		capStep{"4", 90 * time.Minute, day},
	)
	// Another recipient is not held back by ana's sends.
	wantAt(t, "a send to bob", capTo(t, c, "acme", "6", t0.Add(90*time.Minute), "bob@example.com"), t0.Add(90*time.Minute))

	// A send that will not happen frees its place: send 5's goes to the
	// next send, which would have gone after it.
	if err := c.Release(context.Background(), "mateo", "acme", "5", []string{ana}); err != nil {
		t.Fatal(err)
	}
	wantAt(t, "send 7", capTo(t, c, "acme", "7", t0.Add(2*time.Hour), ana), t0.Add(day+30*time.Minute))
}

func TestCapFillsTheGapsBetweenBookings(t *testing.T) {
	t.Parallel()
	// Two per hour: a send fits between bookings when no hour would hold
	// three, and goes after the first booking that leaves room otherwise.
	c := ratelimit.NewCaps(setupRedis(t), ratelimit.Limits{"": {{Count: 2, Period: time.Hour}}})
	t0 := lateEvening()
	bookInTurn(t, c, t0, "ana@example.com",
		capStep{"a", 0, 0}, capStep{"b", 90 * time.Minute, 90 * time.Minute}, capStep{"c", 100 * time.Minute, 100 * time.Minute},
		// 30m fits between: no hour holds more than 0 and 30m, or 30m and 90m.
		capStep{"d", 30 * time.Minute, 30 * time.Minute},
		// 40m would make three in the hour from 0; 60m three in the hour
		// from 60m (90m, 100m); 90m three with 90m and 100m. 150m is an
		// hour past 90m, with only 100m in the hour before it (an hour
		// and a second: a send may go a second late).
		capStep{"e", 40 * time.Minute, 150*time.Minute + time.Second},
	)
}

func TestCapScopes(t *testing.T) {
	t.Parallel()
	// Every send to a recipient: 2 an hour; through acme: 1 an hour.
	c := ratelimit.NewCaps(setupRedis(t), ratelimit.Limits{
		"":           {{Count: 2, Period: time.Hour}},
		"mateo:acme": {{Count: 1, Period: time.Hour}},
	})
	t0 := lateEvening()
	const ana = "ana@example.com"
	wantAt(t, "acme's first", capTo(t, c, "acme", "1", t0, ana), t0)
	const hour = time.Hour + time.Second // and a second: a send may go that late
	wantAt(t, "acme's second", capTo(t, c, "acme", "2", t0, ana), t0.Add(hour))
	// beta's send counts against the cap of every send, with acme's first.
	wantAt(t, "beta's first", capTo(t, c, "beta", "3", t0, ana), t0.Add(time.Millisecond))
	wantAt(t, "beta's second", capTo(t, c, "beta", "4", t0, ana), t0.Add(hour+time.Millisecond))
}

func TestCapOfSeveralRecipientsTakesTheLatest(t *testing.T) {
	t.Parallel()
	c := ratelimit.NewCaps(setupRedis(t), ratelimit.Limits{"mateo": {{Count: 1, Period: time.Hour}}})
	t0 := lateEvening()
	wantAt(t, "to ana", capTo(t, c, "acme", "1", t0, "ana@example.com"), t0)
	wantAt(t, "to bob", capTo(t, c, "acme", "2", t0.Add(20*time.Minute), "bob@example.com"), t0.Add(20*time.Minute))
	// Ana may have one an hour (and a second) after hers, Bob an hour
	// after his, at 1h20m: both go then.
	const hour = time.Hour + time.Second
	wantAt(t, "to both", capTo(t, c, "acme", "3", t0.Add(30*time.Minute), "ana@example.com", "bob@example.com"), t0.Add(20*time.Minute+hour))
	wantAt(t, "to ana alone", capTo(t, c, "acme", "4", t0.Add(70*time.Minute), "ana@example.com"), t0.Add(20*time.Minute+2*hour))
	// Leadconnector's sends are not capped.
	got, err := c.Reserve(context.Background(), "leadconnector", "acme", "5", []string{"ana@example.com"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	wantAt(t, "through leadconnector", got, t0)
}

func TestCapKnowsOneNumberWrittenTwoWays(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	c := ratelimit.NewCaps(rdb, ratelimit.Limits{"": {{Count: 1, Period: time.Hour}}})
	t0 := lateEvening()
	const hour = time.Hour + time.Second
	wantAt(t, "the first", capTo(t, c, "acme", "1", t0, "+1 (415) 555-2671"), t0)
	wantAt(t, "the same number", capTo(t, c, "acme", "2", t0, " +1-415-555-2671"), t0.Add(hour))
	wantAt(t, "the same address", capTo(t, c, "acme", "3", t0, "Ana@Example.com"), t0)
	wantAt(t, "the same address again", capTo(t, c, "acme", "4", t0, "ana@example.com "), t0.Add(hour))

	// No address is written to Redis, in a key or a value.
	text, err := redistest.Text(context.Background(), rdb)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range text {
		for _, addr := range []string{"4155552671", "example.com"} {
			if strings.Contains(k, addr) || strings.Contains(v, addr) {
				t.Errorf("%s (%q) holds the address %s", k, v, addr)
			}
		}
	}
}

func TestNormalizeRecipient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"+14155552671", "+14155552671"},
		{"+1 (415) 555-2671", "+14155552671"},
		{"  +44 20 7946 0958 ", "+442079460958"},
		{"+49 151 12345678", "+4915112345678"},
		{" Ana@Example.COM ", "ana@example.com"},
		// Without its country code a number is not known to be one.
		{"415 555 2671", "415 555 2671"},
		{"@Ana_Insta", "@ana_insta"},
	} {
		if got := ratelimit.NormalizeRecipient(tc.in); got != tc.want {
			t.Errorf("NormalizeRecipient(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCapHoldsAcrossConcurrentBookings(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	t0 := lateEvening()
	const n = 12
	times := make([]time.Time, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each as its own process would: a Caps of its own.
			c := ratelimit.NewCaps(rdb, ratelimit.Limits{"": {{Count: 3, Period: 24 * time.Hour}}})
			got, err := c.Reserve(context.Background(), "mateo", "acme", fmt.Sprint(i), []string{"+14155552671"}, t0)
			if err != nil {
				t.Error(err)
			}
			times[i] = got
		}()
	}
	wg.Wait()
	slices.SortFunc(times, time.Time.Compare)
	for i := 3; i < n; i++ {
		if d := times[i].Sub(times[i-3]); d < 24*time.Hour {
			t.Errorf("sends %d and %d booked %s apart: 4 within 24 h", i-3, i, d)
		}
	}
	if !times[0].Equal(t0) || times[n-1].After(t0.Add(4*24*time.Hour)) {
		t.Errorf("booked from %s to %s, want from %s within 4 days", times[0], times[n-1], t0)
	}
}

func TestReleaseCapsFreesEveryScopeWithoutTheCaps(t *testing.T) {
	t.Parallel()
	rdb := setupRedis(t)
	c := ratelimit.NewCaps(rdb, ratelimit.Limits{
		"":           {{Count: 1, Period: time.Hour}},
		"mateo:acme": {{Count: 1, Period: time.Hour}},
	})
	t0 := lateEvening()
	wantAt(t, "the first send to ana", capTo(t, c, "acme", "a", t0, "+14155552671"), t0)
	wantAt(t, "the first send to bob", capTo(t, c, "acme", "b", t0, "bob@example.com"), t0)
	// Freed by a caller that knows nothing of the caps: the cancelled
	// send's places under both go, bob's stays.
	err := ratelimit.ReleaseCaps(context.Background(), rdb, []ratelimit.CapBooking{
		{Provider: "mateo", Account: "acme", TaskID: "a", Recipients: []string{"+1 415 555 2671"}},
		{Provider: "mateo", Account: "acme", TaskID: "b", Recipients: []string{"ana@example.com"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantAt(t, "the next send to ana", capTo(t, c, "acme", "a2", t0, "+14155552671"), t0)
	wantAt(t, "the next send to bob", capTo(t, c, "acme", "b2", t0, "bob@example.com"), t0.Add(time.Hour+time.Second))
	if err := ratelimit.ReleaseCaps(context.Background(), rdb, nil); err != nil {
		t.Errorf("nothing to free: %v", err)
	}
}
