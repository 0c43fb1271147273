package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
)

// A slow answer keeps the one send slot busy while an account's sends
// come due: they must still go at the spacing its limit sets, not in a
// bunch once the slot frees.
func TestSendsThatWaitedForASendSlotKeepTheirSpacing(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"WORKER_CONCURRENCY": "1", "RATE_LIMITS": "mateo=2/s"})
	e.sandbox.Script(sandbox.Answer{Delay: 2 * time.Second, Body: `{"message":{"id":"slow"}}`})
	first := e.enqueue(t, `{"type":"mateo:send_message","account":"beta","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}}`)
	e.waitState(t, first, "active", 3*time.Second)
	var ids []string
	for range 3 {
		ids = append(ids, e.enqueue(t, `{"type":"mateo:send_message","account":"acme","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}}`))
	}
	e.waitDone(t, append(ids, first), 10*time.Second)
	var acme []time.Time
	for _, r := range e.sandbox.Requests() {
		if r.Header.Get("Authorization") == "Bearer "+acmeToken {
			acme = append(acme, r.At)
		}
	}
	if len(acme) != 3 {
		t.Fatalf("%d requests for acme, want 3", len(acme))
	}
	for i := 1; i < len(acme); i++ {
		if gap := acme[i].Sub(acme[i-1]); gap < 500*time.Millisecond {
			t.Errorf("acme's requests %d and %d %s apart, under its 2/s limit", i, i+1, gap)
		}
	}
}

func TestASendWaitingForASendSlotCanBeCancelled(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"WORKER_CONCURRENCY": "1"})
	e.sandbox.Script(sandbox.Answer{Delay: 2 * time.Second, Body: `{"message":{"id":"slow"}}`})
	busy := e.enqueue(t, plainMessage)
	e.waitState(t, busy, "active", 3*time.Second)
	waiting := e.enqueue(t, plainMessage)
	e.waitState(t, waiting, "active", 3*time.Second) // taken, waiting for the slot
	if err := e.producer.Cancel(context.Background(), waiting); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	e.waitState(t, busy, "completed", 5*time.Second)
	if n := len(e.sandbox.Requests()); n != 1 {
		t.Errorf("%d requests, want only the busy one", n)
	}
}

func TestWaitingForASendSlotSpendsNoAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"WORKER_CONCURRENCY": "1"})
	p := producer.NewFromClient(e.rdb, producer.WithTimeout(3*time.Second), producer.WithMaxRetry(0))
	for range 4 {
		e.sandbox.Script(sandbox.Answer{Delay: 700 * time.Millisecond, Body: `{"message":{"id":"slow"}}`})
	}
	ids := enqueueEach(t, p, 6, func(int) string { return plainMessage })
	e.completedFirstTry(t, ids, 20*time.Second)
	if n := len(e.sandbox.Requests()); n != 6 {
		t.Errorf("%d requests, want 6", n)
	}
}

func TestLatenessIsMeasuredWithItsCause(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"RATE_LIMITS": "mateo=1/s"})
	at, _ := dueIn(1200 * time.Millisecond)
	ids := []string{e.enqueue(t, scheduled(at)), e.enqueue(t, scheduled(at))} // the second waits a second for the limit
	e.waitDone(t, ids, 6*time.Second)
	_, body := get(t, "http://"+e.worker.HealthAddr()+"/metrics", "", "")
	for _, want := range []string{
		`punctual_send_lateness_seconds_count{cause="on_time",provider="mateo"} 1`,
		`punctual_send_lateness_seconds_count{cause="rate_limit",provider="mateo"} 1`,
		`punctual_send_lateness_seconds_bucket{cause="on_time",provider="mateo",le="0.05"} 1`,
		`punctual_send_lateness_seconds_bucket{cause="rate_limit",provider="mateo",le="0.5"} 0`,
		`punctual_send_lateness_seconds_bucket{cause="rate_limit",provider="mateo",le="2.5"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A try whose deadline falls inside the hold for its due time goes back
// to wait rather than be timed out by asynq, which would spend an attempt.
func TestAShortTryTimeoutSpendsNoAttemptOnTheHold(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	p := producer.NewFromClient(e.rdb, producer.WithTimeout(time.Second), producer.WithMaxRetry(0))
	ids := enqueueEach(t, p, 5, func(int) string {
		at, _ := dueIn(1500 * time.Millisecond)
		return scheduled(at)
	})
	e.completedFirstTry(t, ids, 10*time.Second)
}
