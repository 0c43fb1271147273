package state

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
)

func setupStore(t *testing.T) Store {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return Store{Client: rdb}
}

func TestAWaitsEndIsNeverRoundedDown(t *testing.T) {
	t.Parallel()
	s := setupStore(t)
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
	s := setupStore(t)
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
	s := setupStore(t)
	ctx := context.Background()
	due := time.Now().Add(48 * time.Hour)
	first, err := s.Claim(ctx, "t1", "mateo", due)
	if err != nil || first.Queue != "mateo" || first.Age != 0 {
		t.Fatalf("first claim: %+v, %v", first, err)
	}
	other, err := s.Claim(ctx, "t1", "bulk", due)
	if err != nil || other != (Claim{Queue: "mateo", Value: first.Value, Age: other.Age}) {
		t.Errorf("claim from another queue: %+v, %v; want mateo's claim %+v", other, err, first)
	}
	again, err := s.Claim(ctx, "t1", "mateo", due.Add(time.Hour))
	if err != nil || again.Queue != "mateo" || again.Value != first.Value {
		t.Errorf("claim from its queue again: %+v, %v; want mateo's claim as it was", again, err)
	}
	if ttl := s.Client.PTTL(ctx, stateKey("t1", "queue")).Val(); ttl < 49*time.Hour+queueTTL-time.Minute {
		t.Errorf("TTL %s, want the time to the later due time and %s more", ttl, queueTTL)
	}

	renewed, err := s.Renew(ctx, "t1", "mateo", due)
	if err != nil || renewed.Queue != "mateo" || renewed.Value == first.Value || renewed.Age != 0 {
		t.Errorf("renewed: %+v, %v; want a new claim of mateo", renewed, err)
	}
	if other, err := s.Renew(ctx, "t1", "bulk", due); err != nil || other.Value != renewed.Value {
		t.Errorf("renewed from another queue: %+v, %v; want mateo's claim", other, err)
	}
	first = renewed
	stale := Claim{Queue: "mateo", Value: "mateo 1 00000000"}
	if _, ok, err := s.TakeOver(ctx, "t1", stale, "bulk", due); ok || err != nil {
		t.Errorf("take over from a claim no longer in force: %v, %v", ok, err)
	}
	taken, ok, err := s.TakeOver(ctx, "t1", first, "bulk", due)
	if !ok || err != nil || taken.Queue != "bulk" {
		t.Fatalf("take over from the claim in force: %+v, %v, %v", taken, ok, err)
	}

	// A cancel of the earlier task does not free the key a later one holds.
	if err := s.Forget(ctx, "t1", first.Value); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Claim(ctx, "t1", "leadconnector", due); c.Queue != "bulk" || err != nil {
		t.Errorf("after forgetting an old claim: %+v, %v; want bulk's", c, err)
	}
	if err := s.Forget(ctx, "t1", taken.Value); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Claim(ctx, "t1", "leadconnector", due); c.Queue != "leadconnector" || err != nil {
		t.Errorf("claim of a forgotten key: %+v, %v", c, err)
	}
}

func TestAFarDueTimeStillClaims(t *testing.T) {
	t.Parallel()
	s := setupStore(t)
	ctx := context.Background()
	due := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if c, err := s.Claim(ctx, "t1", "mateo", due); err != nil || c.Queue != "mateo" {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	if c, err := s.Claim(ctx, "t1", "bulk", due); err != nil || c.Queue != "mateo" {
		t.Errorf("claim from another queue: %+v, %v; want mateo's", c, err)
	}
	if ttl := s.Client.PTTL(ctx, stateKey("t1", "queue")).Val(); ttl <= 0 {
		t.Errorf("TTL %s", ttl)
	}
}
