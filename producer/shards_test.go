package producer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/tasks"
)

// newRedis returns a client of a redis-server of the test's own.
func newRedis(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// keyedSend is a Mateo send of account under key, due in an hour.
func keyedSend(account, key string) []byte {
	due := time.Now().Add(time.Hour).Format(time.RFC3339Nano)
	return []byte(`{"type":"mateo:send_message","account":"` + account + `","key":"` + key + `","process_at":"` + due +
		`","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"hi"}}`)
}

// accountMoved returns an account whose shard of mateo is not shard 0 under
// count from, and is another under count to.
func accountMoved(t *testing.T, from, to int) string {
	t.Helper()
	for i := range 1000 {
		a := fmt.Sprintf("acct-%d", i)
		if s := tasks.ShardOf("mateo", a, from); s != "mateo" && s != tasks.ShardOf("mateo", a, to) {
			return a
		}
	}
	t.Fatal("no account changes shard")
	return ""
}

// A key cancelled, enqueued again after QUEUE_SHARDS changed and cancelled
// again leaves a record in each shard: the list by queue name shows the
// one send twice, and its status may tell the first cancel's time, where
// one queue's record would have been replaced by the latest.
func TestAKeyCancelledTwiceUnderTwoCountsIsOneCancelledSend(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	account := accountMoved(t, 3, 7)
	three := producer.NewFromClient(rdb, producer.WithQueueShards(3))
	seven := producer.NewFromClient(rdb, producer.WithQueueShards(7))

	first, err := three.EnqueueJSON(ctx, keyedSend(account, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := three.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	again, err := seven.EnqueueJSON(ctx, keyedSend(account, "k1"))
	if err != nil || again.Duplicate || again.ID != first.ID {
		t.Fatalf("the freed key enqueued again: %+v, %v; want a new send of id %s", again, err, first.ID)
	}
	beforeSecond := time.Now()
	if err := seven.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}

	listed, err := seven.List(ctx, producer.ListOptions{Queue: "mateo", State: producer.StateCancelled})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range listed {
		if s.ID == first.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("list --state cancelled --queue mateo shows send %s %d times, want once", first.ID, n)
	}
	for _, p := range []*producer.Producer{three, seven} {
		s, err := p.Status(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.State != producer.StateCancelled || s.CancelledAt.Before(beforeSecond) {
			t.Errorf("status: %s at %s; want cancelled at the latest cancel, not before %s",
				s.State, s.CancelledAt.Format(time.RFC3339Nano), beforeSecond.Format(time.RFC3339Nano))
		}
	}
}

// QUEUE_SHARDS is bounded (1 to tasks.MaxShards) for the workers and the
// CLI, but WithQueueShards takes any count: a producer of 257 puts sends
// into asynq queues that no worker of any valid count has among its own
// shards (and a count in the tens of thousands makes the first enqueue
// search names for minutes).
func TestWithQueueShardsBeyondTheBoundIsNotTakenSilently(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	over := tasks.MaxShards + 1
	account := accountMoved(t, over, tasks.MaxShards)

	var p *producer.Producer
	panicked := func() (v any) {
		defer func() { v = recover() }()
		p = producer.NewFromClient(rdb, producer.WithQueueShards(over))
		return nil
	}()
	if panicked != nil {
		return // refused at start-up, as a bad registry is
	}
	res, err := p.EnqueueJSON(context.Background(), keyedSend(account, "k"))
	if err != nil {
		if !strings.Contains(err.Error(), "shards") && !strings.Contains(err.Error(), "QUEUE_SHARDS") {
			t.Errorf("refused with %q, which does not name the count", err)
		}
		return // refused, with its reason
	}
	queues, err := rdb.SMembers(context.Background(), "asynq:queues").Result()
	if err != nil {
		t.Fatal(err)
	}
	valid := map[string]bool{}
	for _, s := range tasks.Shards("mateo", tasks.MaxShards) {
		valid[s] = true
	}
	for _, q := range queues {
		if !valid[q] {
			t.Errorf("WithQueueShards(%d) took send %s into asynq queue %q, a shard of no count a worker may have; want it refused or bounded to %d",
				over, res.ID, q, tasks.MaxShards)
		}
	}
}

// A reschedule refused because another shard holds the send's key names
// that shard ("mateo~4.35"), where every other message names the queue.
func TestARescheduleRefusedForAKeyHeldElsewhereNamesTheQueue(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	account := accountMoved(t, 3, 7)
	p := producer.NewFromClient(rdb, producer.WithQueueShards(3))
	res, err := p.EnqueueJSON(ctx, keyedSend(account, "k"))
	if err != nil {
		t.Fatal(err)
	}
	// The key as a producer of seven shards holds it after the claim of
	// three lapsed (past its 100 days) and before its own task is in: its
	// claim, as state.Store.Claim writes it.
	other := tasks.ShardOf("mateo", account, 7)
	claim := fmt.Sprintf("%s %d 0badc0de", other, time.Now().UnixMilli())
	if err := rdb.Set(ctx, "punctual:{"+res.ID+"}:queue", claim, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = p.Reschedule(ctx, res.ID, time.Now().Add(2*time.Hour))
	if err == nil {
		t.Fatal("rescheduled a send whose key another shard holds")
	}
	if strings.Contains(err.Error(), tasks.ShardSeparator) || errors.Is(err, producer.ErrNotFound) {
		t.Errorf("reschedule refused with %q: names the shard %q, want the queue mateo", err, other)
	}
}
