package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
)

func TestRateLimitsKeepEachAccountUnderItsLimitWithoutStarvingOthers(t *testing.T) {
	t.Parallel()
	const perSecond = 5
	e := setup(t, map[string]string{"RATE_LIMITS": fmt.Sprintf("mateo=%d/s", perSecond)}, sandbox.Limit{Count: perSecond, Period: time.Second})

	limits, err := config.ParseRateLimits(fmt.Sprintf("mateo=%d/s", perSecond))
	if err != nil {
		t.Fatal(err)
	}
	p := producer.NewFromClient(e.rdb, producer.WithRateLimits(limits))
	const backlog = 20
	ctx := context.Background()
	for i := range backlog {
		if _, err := p.EnqueueJSON(ctx, []byte(fmt.Sprintf(`{"type":"mateo:send_message","account":"acme","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"acme %d"}}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	lone := time.Now()
	if _, err := p.EnqueueJSON(ctx, []byte(`{"type":"mateo:send_message","account":"beta","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"beta"}}`)); err != nil {
		t.Fatal(err)
	}

	reqs := e.requests(t, backlog+1, 10*time.Second)
	var acme []time.Time
	for _, r := range reqs {
		if r.Status == http.StatusTooManyRequests {
			t.Errorf("a 429 at %s", r.At)
		}
		if r.Header.Get("Authorization") == "Bearer "+betaToken {
			if late := r.At.Sub(lone); late > time.Second {
				t.Errorf("beta's lone send went %s after it was due, behind acme's backlog", late)
			}
			continue
		}
		acme = append(acme, r.At)
	}
	for i := perSecond; i < len(acme); i++ {
		if window := acme[i].Sub(acme[i-perSecond]); window < time.Second-20*time.Millisecond {
			t.Errorf("sends %d to %d of acme within %s: over %d/s", i-perSecond, i, window, perSecond)
		}
	}
	if took := acme[len(acme)-1].Sub(acme[0]); took > time.Duration(backlog)*time.Second/perSecond+time.Second {
		t.Errorf("acme's %d sends took %s at %d/s: below the allowed rate", backlog, took, perSecond)
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
