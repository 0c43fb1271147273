package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap/zaptest"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/worker"
)

// shardAccounts are the tests' Mateo accounts: with 3 shards, one in each.
var shardAccounts = []string{"default", "acme", "beta"}

// shardedMessage is a keyed Mateo send of account, due at due (now when
// zero), in group when not empty, its text naming its key.
func shardedMessage(account, key string, due time.Time, group string) string {
	extra := ""
	if !due.IsZero() {
		extra += `,"process_at":"` + due.Format(time.RFC3339Nano) + `"`
	}
	if group != "" {
		extra += `,"group":"` + group + `"`
	}
	return `{"type":"mateo:send_message","account":"` + account + `","key":"` + key + `"` + extra +
		`,"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"` + key + `"}}`
}

// sentTexts counts the Mateo requests of e's sandbox by the text they carry.
func (e *env) sentTexts() map[string]int {
	n := map[string]int{}
	for _, r := range e.sandbox.Requests() {
		for _, part := range strings.Split(string(r.Body), `"text":"`)[1:] {
			text, _, _ := strings.Cut(part, `"`)
			n[text]++
		}
	}
	return n
}

// TestASendInEachShardIsCancelledDeduplicatedAndListed: with QUEUE_SHARDS=3
// the three accounts' sends are in three asynq queues, and every command
// that names the queue mateo reaches all three, while everything a user
// sees names mateo.
func TestASendInEachShardIsCancelledDeduplicatedAndListed(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"QUEUE_SHARDS": "3"})
	ctx := context.Background()
	p := producer.NewFromClient(e.rdb, producer.WithQueueShards(3), producer.WithMaxRetry(3))
	later := time.Now().Add(time.Hour)
	shards := map[string]bool{}
	var scheduled, now []string
	for _, account := range shardAccounts {
		shard := tasks.ShardOf("mateo", account, 3)
		shards[shard] = true
		for _, s := range []struct {
			key string
			due time.Time
			ids *[]string
		}{{"later-" + account, later, &scheduled}, {"now-" + account, time.Time{}, &now}} {
			res, err := p.EnqueueJSON(ctx, []byte(shardedMessage(account, s.key, s.due, "g")))
			if err != nil || res.Queue != "mateo" || res.Duplicate {
				t.Fatalf("%s: %+v, %v; want a new send in queue mateo", s.key, res, err)
			}
			if _, err := e.inspector.GetTaskInfo(shard, res.ID); err != nil && s.due.After(time.Now()) {
				t.Fatalf("%s: not in its account's shard %s: %v", s.key, shard, err)
			}
			*s.ids = append(*s.ids, res.ID)
		}
	}
	if len(shards) != 3 {
		t.Fatalf("the accounts' sends are in %d shards, want 3", len(shards))
	}

	// The same keys again, from a producer of this count and from one of
	// another: duplicates, wherever they would go now.
	for _, q := range []*producer.Producer{p, producer.NewFromClient(e.rdb, producer.WithQueueShards(7))} {
		for i, account := range shardAccounts {
			res, err := q.EnqueueJSON(ctx, []byte(shardedMessage(account, "later-"+account, later, "")))
			if err != nil || !res.Duplicate || res.ID != scheduled[i] || res.Queue != "mateo" {
				t.Errorf("later-%s enqueued again: %+v, %v; want a duplicate of %s in mateo", account, res, err, scheduled[i])
			}
		}
	}

	listed, err := p.List(ctx, producer.ListOptions{Queue: "mateo", State: producer.StateScheduled})
	if err != nil || len(listed) != 3 {
		t.Fatalf("list --queue mateo --state scheduled: %d (%v), want 3", len(listed), err)
	}
	for _, s := range listed {
		if s.Queue != "mateo" {
			t.Errorf("listed %s in queue %q, want mateo", s.ID, s.Queue)
		}
	}
	if shard := tasks.ShardOf("mateo", "acme", 3); shard != "mateo" {
		if other, err := p.List(ctx, producer.ListOptions{Queue: shard, State: producer.StateScheduled}); err != nil || len(other) != 1 {
			t.Errorf("list of the shard's own name: %d (%v), want its one send", len(other), err)
		}
	}

	// One cancelled alone, the others with their group.
	if err := p.Cancel(ctx, scheduled[1]); err != nil {
		t.Fatal(err)
	}
	if s, err := p.Status(ctx, scheduled[1]); err != nil || s.State != producer.StateCancelled || s.Queue != "mateo" {
		t.Errorf("status of the send cancelled: %+v, %v", s, err)
	}
	e.completedFirstTry(t, now, 10*time.Second)
	res, err := p.CancelGroup(ctx, "g")
	if err != nil || res.Cancelled != 2 {
		t.Fatalf("cancel --group: %+v, %v; want the 2 sends not yet cancelled", res, err)
	}
	cancelled, err := p.List(ctx, producer.ListOptions{Queue: "mateo", State: producer.StateCancelled})
	if err != nil || len(cancelled) != 3 {
		t.Errorf("list --state cancelled --queue mateo: %d (%v), want 3", len(cancelled), err)
	}
	completed, err := p.List(ctx, producer.ListOptions{Queue: "mateo", State: producer.StateCompleted})
	if err != nil || len(completed) != 3 {
		t.Errorf("list --state completed --queue mateo: %d (%v), want 3", len(completed), err)
	}
	for _, s := range append(completed, cancelled...) {
		if s.Queue != "mateo" {
			t.Errorf("%s %s in queue %q, want mateo", s.State, s.ID, s.Queue)
		}
	}
	sent := e.sentTexts()
	for _, account := range shardAccounts {
		if sent["now-"+account] != 1 || sent["later-"+account] != 0 {
			t.Errorf("account %s: sent %d due now (want 1) and %d cancelled (want 0)", account, sent["now-"+account], sent["later-"+account])
		}
	}

	// Archived sends of every shard are retried by one command.
	for _, account := range shardAccounts {
		res, err := p.EnqueueJSON(ctx, []byte(shardedMessage(account, "archived-"+account, later, "")))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.inspector.ArchiveTask(tasks.ShardOf("mateo", account, 3), res.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.RetryAllArchived(ctx); err != nil || n != 3 {
		t.Errorf("retry --all-archived: %d, %v; want 3", n, err)
	}
}

// TestChangingQueueShardsBetweenEnqueueAndSendLosesNothing: sends queued
// under three counts of shards are all taken by workers of a fourth, each
// once; and a send queued under a count no worker takes yet is taken once
// a worker restarts.
func TestChangingQueueShardsBetweenEnqueueAndSendLosesNothing(t *testing.T) {
	t.Parallel()
	url := "redis://" + redistest.Start(t).Addr + "/0"
	ctx := context.Background()
	due := time.Now().Add(time.Second)
	var ids, keys []string
	enqueue := func(shards int, due time.Time) {
		t.Helper()
		p, err := producer.Open(url, producer.WithQueueShards(shards))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for _, account := range shardAccounts {
			for i := range 4 {
				key := fmt.Sprintf("n%d-%s-%d", shards, account, i)
				res, err := p.EnqueueJSON(ctx, []byte(shardedMessage(account, key, due, "")))
				if err != nil {
					t.Fatal(err)
				}
				ids, keys = append(ids, res.ID), append(keys, key)
			}
		}
	}
	for _, n := range []int{1, 3, 8} {
		enqueue(n, due)
	}
	first := setup(t, map[string]string{"REDIS_URL": url, "QUEUE_SHARDS": "2"})
	first.waitDone(t, ids, 15*time.Second)

	// Five shards: the worker of two took every shard asynq had when it
	// started, and shards 1 to 4 of five are new to it; they wait for the
	// next worker.
	enqueue(5, time.Time{})
	first.stop()
	again := setup(t, map[string]string{"REDIS_URL": url, "QUEUE_SHARDS": "2"})
	again.waitDone(t, ids, 15*time.Second)
	sent := first.sentTexts()
	for text, n := range again.sentTexts() {
		sent[text] += n
	}
	for i, key := range keys {
		if s, err := again.producer.Status(ctx, ids[i]); err != nil || s.State != producer.StateCompleted || sent[key] != 1 {
			t.Errorf("%s: %+v, %v; sent %d times, want completed once", key, s, err, sent[key])
		}
	}
	if _, err := again.inspector.GetQueueInfo(tasks.Shards("mateo", 5)[4]); errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal("the five-shard count used none of its own queues: the test proves nothing")
	}
}

// TestAQueueShardsOutOfBoundsIsRefused: an app building a worker's Config
// by hand gets the bound QUEUE_SHARDS has.
func TestAQueueShardsOutOfBoundsIsRefused(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadFrom(map[string]string{"REDIS_URL": "redis://" + redistest.Start(t).Addr + "/0", "MATEO_TOKEN": "t", "HTTP_ADDR": "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	wc, err := worker.ConfigFrom(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{-1, tasks.MaxShards + 1} {
		wc.QueueShards = n
		if _, err := worker.New(wc, zaptest.NewLogger(t)); err == nil || !strings.Contains(err.Error(), "QueueShards") {
			t.Errorf("QueueShards %d: %v, want an error naming it", n, err)
		}
	}
}
