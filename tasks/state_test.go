package tasks

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"punctual/internal/redistest"
)

func setupState(t *testing.T) State {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return State{Client: rdb}
}

func TestAWaitsEndIsNeverRoundedDown(t *testing.T) {
	t.Parallel()
	s := setupState(t)
	ctx := context.Background()
	for _, frac := range []time.Duration{0, 1, 999, 999_999, 1_000_001} {
		end := time.Now().Add(time.Second).Truncate(time.Millisecond).Add(frac)
		if err := s.SetUntil(ctx, "t1", end); err != nil {
			t.Fatal(err)
		}
		h, err := s.Load(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if h.Until.Before(end) || h.Until.Sub(end) >= time.Microsecond {
			t.Errorf("wait until %s kept as %s: want it, rounded up to the microsecond", end.Format(time.RFC3339Nano), h.Until.Format(time.RFC3339Nano))
		}
	}
}

func TestACancelIsTakenOnce(t *testing.T) {
	t.Parallel()
	s := setupState(t)
	ctx := context.Background()
	if err := s.Cancel(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		got, err := s.TakeCancel(ctx, "t1")
		if err != nil || got != want {
			t.Errorf("take %d: %v, %v; want %v", i+1, got, err, want)
		}
	}
}

func TestAKeyHasOneQueue(t *testing.T) {
	t.Parallel()
	s := setupState(t)
	ctx := context.Background()
	due := time.Now().Add(48 * time.Hour)
	for _, c := range []struct{ queue, want string }{{"mateo", "mateo"}, {"bulk", "mateo"}, {"mateo", "mateo"}} {
		if got, err := s.Claim(ctx, "t1", c.queue, due); err != nil || got != c.want {
			t.Errorf("claim from %s: %q, %v; want %q", c.queue, got, err, c.want)
		}
	}
	ttl := s.Client.PTTL(ctx, stateKey("t1", "queue")).Val()
	if ttl < 48*time.Hour+queueTTL-time.Minute {
		t.Errorf("TTL %s, want the time to the due time and %s more", ttl, queueTTL)
	}
	if ok, err := s.TakeOver(ctx, "t1", "bulk", "other", due); ok || err != nil {
		t.Errorf("take over from a queue that does not hold the key: %v, %v", ok, err)
	}
	if ok, err := s.TakeOver(ctx, "t1", "mateo", "bulk", due); !ok || err != nil {
		t.Errorf("take over from its holder: %v, %v", ok, err)
	}
	if q, err := s.Holder(ctx, "t1"); q != "bulk" || err != nil {
		t.Errorf("holder %q, %v; want bulk", q, err)
	}
	if err := s.Forget(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Claim(ctx, "t1", "leadconnector", due); got != "leadconnector" || err != nil {
		t.Errorf("claim of a forgotten key: %q, %v", got, err)
	}
}
