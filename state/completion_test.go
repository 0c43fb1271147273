package state

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/punctualhq/punctual/tasks"
)

func made(queue string) []byte {
	return Completion{Queue: queue, Type: "mateo:send_message", At: time.Now(), MaxRetry: 3, Claimed: true,
		Result: tasks.Result{Provider: "mateo", Status: 200, Response: []byte(`{"message_id":"m1"}`)}}.Encode()
}

// TestASendMadeTakesItsKeyInEveryQueue: once made, a key is claimed by no
// queue, its own included; its claim and sending mark give way to the
// record, which a cancel of a task enqueued under the key meanwhile does
// not remove, and which the next try reads as done.
func TestASendMadeTakesItsKeyInEveryQueue(t *testing.T) {
	t.Parallel()
	s := setupStore(t)
	ctx := context.Background()
	first, err := s.Claim(ctx, "t1", "mateo", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sending(ctx, "t1", "fp"); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "t1", made("mateo"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := s.Client.Exists(ctx, stateKey("t1", "queue")).Val(); n != 0 {
		t.Error("the claim outlives the send made")
	}
	for _, q := range []string{"mateo", "urgent"} {
		c, err := s.Claim(ctx, "t1", q, time.Now())
		if err != nil || c.Done == nil || c.Queue != "mateo" {
			t.Errorf("claim by %s after the send: %+v, %v; want the record, in mateo", q, c, err)
		}
	}
	if err := s.Forget(ctx, "t1", first.Value); err != nil {
		t.Fatal(err)
	}
	m, err := s.Load(ctx, "t1")
	if err != nil || m.Done == nil || m.Sending || m.Done.Result.Status != 200 || string(m.Done.Result.Response) != `{"message_id":"m1"}` {
		t.Errorf("marks after a forget: %+v, %v; want the record kept", m, err)
	}
	if ttl := s.Client.PTTL(ctx, stateKey("t1", "sending")).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("the record lives %s, want the retention, an hour", ttl)
	}

	// Kept malformed, a record still stops the send.
	s.Client.Set(ctx, stateKey("t2", "sending"), "done {", time.Hour)
	if m, err := s.Load(ctx, "t2"); err != nil || m.Done == nil {
		t.Errorf("marks of a malformed record: %+v, %v; want done", m, err)
	}
}

// TestCompletedFindsEveryRecordOfAQueueAndNoMore: the records are found
// by a scan, across its batches, with only the queue's and at most n.
func TestCompletedFindsEveryRecordOfAQueueAndNoMore(t *testing.T) {
	t.Parallel()
	s := setupStore(t)
	ctx := context.Background()
	pipe := s.Client.Pipeline()
	for i := range 2500 {
		q := "mateo"
		if i%5 == 0 {
			q = "leadconnector"
		}
		WriteCompletion(ctx, pipe, fmt.Sprintf("id-%d", i), made(q), time.Hour)
	}
	// A sending mark of a try in flight is no record.
	pipe.Set(ctx, stateKey("in-flight", "sending"), "fp", time.Hour)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := s.Completed(ctx, "mateo", 10_000)
	if err != nil || len(all) != 2000 {
		t.Fatalf("%d records of mateo (%v), want 2000", len(all), err)
	}
	seen := map[string]bool{}
	for _, m := range all {
		if m.Queue != "mateo" || seen[m.ID] {
			t.Fatalf("record %+v: of another queue, or twice", m)
		}
		seen[m.ID] = true
	}
	if some, err := s.Completed(ctx, "mateo", 5); err != nil || len(some) != 5 {
		t.Errorf("%d records (%v), want the 5 asked for", len(some), err)
	}
}

// TestARecordDeletesTheMarksItReplaces: the claim goes when the send was
// claimed, the window's time when a window moved the send, and both when
// the record cannot be read.
func TestARecordDeletesTheMarksItReplaces(t *testing.T) {
	t.Parallel()
	s := setupStore(t)
	ctx := context.Background()
	for i, c := range []struct {
		record             []byte
		claimGone, winGone bool
	}{
		{Completion{Type: "mateo:send_message", At: time.Now()}.Encode(), false, false},
		{Completion{Type: "mateo:send_message", At: time.Now(), Claimed: true}.Encode(), true, false},
		{Completion{Type: "mateo:send_message", At: time.Now(), WindowAt: time.Now()}.Encode(), false, true},
		{[]byte("{"), true, true},
	} {
		id := fmt.Sprint("t", i)
		s.Client.Set(ctx, stateKey(id, "queue"), "mateo 1 ab", time.Hour)
		s.Client.Set(ctx, stateKey(id, "window"), "1", time.Hour)
		if err := s.Complete(ctx, id, c.record, time.Hour); err != nil {
			t.Fatal(err)
		}
		claim, win := s.Client.Exists(ctx, stateKey(id, "queue")).Val() == 0, s.Client.Exists(ctx, stateKey(id, "window")).Val() == 0
		if claim != c.claimGone || win != c.winGone {
			t.Errorf("record %s: claim gone %v, window gone %v; want %v, %v", c.record, claim, win, c.claimGone, c.winGone)
		}
	}
}

// TestARecordRefusedLeavesTheClaim: a Redis at maxmemory refuses the
// record; the claim it would replace stays, and the key with it.
func TestARecordRefusedLeavesTheClaim(t *testing.T) {
	t.Parallel()
	s := setupStore(t)
	ctx := context.Background()
	s.Client.Set(ctx, stateKey("t1", "queue"), "mateo 1 ab", time.Hour)
	s.Client.ConfigSet(ctx, "maxmemory-policy", "noeviction")
	s.Client.ConfigSet(ctx, "maxmemory", "1")
	err := s.Complete(ctx, "t1", made("mateo"), time.Hour)
	s.Client.ConfigSet(ctx, "maxmemory", "0")
	if err == nil {
		t.Fatal("the record was written past maxmemory")
	}
	if s.Client.Get(ctx, stateKey("t1", "queue")).Val() != "mateo 1 ab" {
		t.Error("the claim is gone with no record in its place")
	}
}
