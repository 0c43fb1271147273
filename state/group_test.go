package state

import (
	"context"
	"slices"
	"testing"
	"time"
)

func memberIDs(ms []Member) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	slices.Sort(ids)
	return ids
}

func TestAGroupCancelTakesTheSendsThatJoinedBefore(t *testing.T) {
	t.Parallel()
	g := Groups{Client: setupStore(t).Client}
	ctx := context.Background()
	const group, keep = "contact:abc123", 24 * time.Hour
	due := time.Now().Add(72 * time.Hour)
	join := func(id string) int64 {
		t.Helper()
		gen, err := g.Join(ctx, group, Member{ID: id, Queue: "mateo", Type: "mateo:send_message", Account: "acme"}, due, keep)
		if err != nil {
			t.Fatal(err)
		}
		return gen
	}
	if a, b := join("a"), join("b"); a != 0 || b != 0 {
		t.Fatalf("generations %d, %d before any cancel, want 0", a, b)
	}
	for _, k := range groupKeys(group) {
		if ttl := g.Client.PTTL(ctx, k).Val(); ttl < time.Until(due)+keep-time.Minute {
			t.Errorf("%s lives %s, want past the latest due time plus %s", k, ttl, keep)
		}
	}

	members, err := g.Begin(ctx, group, keep)
	if err != nil || !slices.Equal(memberIDs(members), []string{"a", "b"}) {
		t.Fatalf("the cancel took %v (%v), want a and b", members, err)
	}
	if m := members[0]; m.Queue != "mateo" || m.Type != "mateo:send_message" || m.Account != "acme" {
		t.Errorf("member %+v, want its queue, type and account", m)
	}
	if cancelled, kept, err := g.Since(ctx, group, 0); err != nil || !cancelled || kept != keep {
		t.Errorf("a send that joined before the cancel: cancelled %v, kept %s (%v); want cancelled, kept %s", cancelled, kept, err, keep)
	}

	// Joining during the cancel: c is after it, a joins again (its key
	// freed and enqueued anew), and neither is taken by this cancel.
	if gen := join("c"); gen != 1 {
		t.Fatalf("generation %d after one cancel, want 1", gen)
	}
	join("a")
	if cancelled, _, err := g.Since(ctx, group, 1); err != nil || cancelled {
		t.Errorf("a send that joined after the cancel began: cancelled %v (%v)", cancelled, err)
	}
	if err := g.Leave(ctx, group, members); err != nil {
		t.Fatal(err)
	}
	next, err := g.Begin(ctx, group, keep)
	if err != nil || !slices.Equal(memberIDs(next), []string{"a", "c"}) {
		t.Errorf("the next cancel took %v (%v), want a, joined again, and c", memberIDs(next), err)
	}
}

func TestARecordOfACancelIsKeptForTheRetention(t *testing.T) {
	t.Parallel()
	g := Groups{Client: setupStore(t).Client}
	ctx := context.Background()
	const keep = 2 * time.Hour
	now := time.Now().UTC().Truncate(time.Millisecond)
	old := Cancellation{ID: "old", Type: "mateo:send_message", Queue: "bulk", Account: "acme", Group: "g", At: now.Add(-keep - time.Minute)}
	recent := Cancellation{ID: "recent", Type: "mateo:send_message", Queue: "bulk", At: now}
	for _, c := range []Cancellation{old, recent} {
		if err := g.Record(ctx, c, keep); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := g.LookUp(ctx, "bulk", "old"); err != nil || c != nil {
		t.Errorf("a record older than the retention: %+v, %v; want it trimmed", c, err)
	}
	got, err := g.LookUp(ctx, "bulk", "recent")
	if err != nil || got == nil || *got != recent {
		t.Fatalf("looked up %+v, %v; want %+v", got, err, recent)
	}
	list, err := g.List(ctx, "bulk", 10)
	if err != nil || len(list) != 1 || list[0] != recent {
		t.Errorf("listed %+v, %v; want the recent record only", list, err)
	}
	if ttl := g.Client.PTTL(ctx, cancelledKeys("bulk")[1]).Val(); ttl <= keep-time.Minute || ttl > keep {
		t.Errorf("the records live %s, want the retention %s", ttl, keep)
	}
}
