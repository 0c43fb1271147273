package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/sandbox"
)

func TestRateLimitsKeepEachAccountUnderItsLimitWithoutStarvingOthers(t *testing.T) {
	t.Parallel()
	const perSecond = 5
	e := setup(t, map[string]string{"RATE_LIMITS": fmt.Sprintf("mateo=%d/s", perSecond)}, sandbox.Limit{Count: perSecond, Period: time.Second})

	limits, err := config.ParseRateLimits(builtin.Registry(), fmt.Sprintf("mateo=%d/s", perSecond))
	if err != nil {
		t.Fatal(err)
	}
	p := producer.NewFromClient(e.rdb, producer.WithRateLimits(limits))
	const backlog = 20
	ctx := context.Background()
	text := map[string]string{} // task id: the message's text
	for i := range backlog {
		res, err := p.EnqueueJSON(ctx, []byte(fmt.Sprintf(`{"type":"mateo:send_message","account":"acme","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"acme %d"}}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		text[res.ID] = fmt.Sprintf("acme %d", i)
	}
	res, err := p.EnqueueJSON(ctx, []byte(`{"type":"mateo:send_message","account":"beta","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"beta"}}`))
	if err != nil {
		t.Fatal(err)
	}
	text[res.ID] = "beta"

	// The calendars say when each send may go: the times the requests
	// arrive add whatever delay a busy machine puts between the worker's
	// request and the sandbox's clock, so the limit is checked on the
	// bookings, and each request against its own booking. A send picked up
	// late takes a new booking: the last one seen is the one it went at.
	booked := map[string]time.Time{} // by the message's text
	look := func() {
		for _, account := range []string{"acme", "beta"} {
			zs, err := e.rdb.ZRangeWithScores(ctx, "punctual:rl:{mateo:"+account+"}:bookings", 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, z := range zs {
				if m, ok := text[z.Member.(string)]; ok {
					booked[m] = time.UnixMilli(int64(z.Score))
				}
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for look(); len(e.sandbox.Requests()) < backlog+1; look() {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests within 20s, want %d", len(e.sandbox.Requests()), backlog+1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(booked) != backlog+1 {
		t.Fatalf("%d of %d sends seen booked", len(booked), backlog+1)
	}

	var acme []time.Time
	for _, r := range e.sandbox.Requests() {
		if r.Status == http.StatusTooManyRequests {
			t.Errorf("a 429 at %s", r.At)
		}
		var body struct{ Text string }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		// The sandbox's clock is read after the request arrived: a
		// millisecond of rounding is all a request may seem early by.
		if slot := booked[body.Text]; r.At.Before(slot.Add(-time.Millisecond)) {
			t.Errorf("%q arrived at %s, before its booking at %s", body.Text, r.At.Format(time.StampMilli), slot.Format(time.StampMilli))
		}
		if body.Text != "beta" {
			acme = append(acme, booked[body.Text])
		}
	}
	slices.SortFunc(acme, time.Time.Compare)
	for i := perSecond; i < len(acme); i++ {
		if window := acme[i].Sub(acme[i-perSecond]); window < time.Second {
			t.Errorf("acme's bookings %d to %d within %s: over %d/s", i-perSecond, i, window, perSecond)
		}
	}
	// beta's lone send is booked at its own time, not behind acme's backlog.
	if beta := booked["beta"]; !beta.Before(acme[perSecond]) {
		t.Errorf("beta's lone send booked at %s, behind acme's backlog from %s", beta.Format(time.StampMilli), acme[0].Format(time.StampMilli))
	}
	// A send that reaches a worker too late for its slot takes a new one:
	// taken again at times, but about once per send.
	if taken := e.logs.FilterMessage("taken").Len(); float64(taken) > 1.2*float64(backlog+1) {
		t.Errorf("%d pickups for %d sends", taken, backlog+1)
	}
}

func TestProviderLimitsCorrectTheLocalView(t *testing.T) {
	t.Parallel()
	// The worker thinks 20/s; the provider allows 4/s and says so with 429s.
	e := setup(t, map[string]string{"RATE_LIMITS": "mateo=20/s"}, sandbox.Limit{Count: 4, Period: time.Second})
	const n = 12
	var ids []string
	for i := range n {
		ids = append(ids, e.enqueue(t, fmt.Sprintf(`{"type":"mateo:send_message","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"m %d"}}`, i)))
	}
	for _, id := range ids {
		if s := e.waitState(t, id, "completed", 10*time.Second); s.Retried != 0 {
			t.Errorf("task %s spent %d attempts on rate limits", id, s.Retried)
		}
	}
	limited := 0
	for _, r := range e.sandbox.Requests() {
		if r.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	// Its rate-limit headers hold the account back once a window is used
	// up: at most the first window's excess is refused.
	if limited > 2 {
		t.Errorf("%d 429s for %d sends: the provider's answers did not slow the account down", limited, n)
	}
	t.Logf("%d sends, %d answered 429", n, limited)
}
