package worker_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/internal/testwait"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/tasks"
)

// TestAClusterNodeRestartMidRunLosesNothing kills the master that holds
// most of the sends' shards while some are being sent and others wait for
// their time, and starts it again from its append-only file: the worker
// and the producer carry on by themselves, and every send is made once.
func TestAClusterNodeRestartMidRunLosesNothing(t *testing.T) {
	t.Parallel()
	const shards = 12
	cluster := redistest.StartPersistentCluster(t)
	// Every request takes a while: when the node goes, sends are in the
	// provider's hands, their completion still to be written.
	sb := sandbox.New(sandbox.Config{
		Tokens: map[string]map[string]string{
			mateo.Name:         {mateoToken: "default", acmeToken: "acme", betaToken: "beta"},
			leadconnector.Name: {lcToken: "default"},
		},
		Faults: sandbox.Faults{Slow: 1, SlowDelay: 300 * time.Millisecond},
	})
	e := setupWith(t, sb, map[string]string{
		"REDIS_CLUSTER_ADDRS": strings.Join(cluster.Addrs, ","),
		"QUEUE_SHARDS":        fmt.Sprint(shards),
		"RATE_LIMITS":         "off",
	})
	p := producer.NewFromClient(e.rdb, producer.WithQueueShards(shards), producer.WithMaxRetry(3))

	// The accounts' shards are on more than one master: the restart stops
	// some of the sends and not the others.
	shardsOn := map[string][]string{}
	for _, account := range shardAccounts {
		shard := tasks.ShardOf("mateo", account, shards)
		nodes, err := e.inspector.ClusterNodes(shard)
		if err != nil || len(nodes) != 1 {
			t.Fatalf("nodes of shard %s: %v %v, want its master", shard, nodes, err)
		}
		shardsOn[nodes[0].Addr] = append(shardsOn[nodes[0].Addr], shard)
	}
	t.Logf("the accounts' shards by master: %v", shardsOn)
	if len(shardsOn) < 2 {
		t.Fatalf("the accounts' shards are all on one master: %v", shardsOn)
	}
	victim := slices.MaxFunc(slices.Collect(maps.Keys(shardsOn)), func(a, b string) int {
		return len(shardsOn[a]) - len(shardsOn[b])
	})
	node := slices.Index(cluster.Addrs, victim)

	// Per account, some sends due now and the rest over the next seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
	defer cancel()
	var ids, keys []string
	enqueue := func(account, key string, due time.Time) {
		t.Helper()
		res, err := p.EnqueueJSON(ctx, []byte(shardedMessage(account, key, due, "")))
		if err != nil || res.Duplicate || res.Queue != "mateo" {
			t.Fatalf("enqueue %s: %+v, %v; want a new send in queue mateo", key, res, err)
		}
		ids, keys = append(ids, res.ID), append(keys, key)
	}
	start := time.Now()
	var lastDue time.Time
	for _, account := range shardAccounts {
		for i := range 30 {
			var due time.Time
			if i >= 10 {
				due = start.Add(time.Duration(i-9) * 150 * time.Millisecond)
				lastDue = due
			}
			enqueue(account, fmt.Sprintf("before-%s-%d", account, i), due)
		}
	}

	// Once a send of the victim's shards is active, the node goes.
	active := func() int {
		n := 0
		for _, shard := range shardsOn[victim] {
			if info, err := e.inspector.GetQueueInfo(shard); err == nil {
				n += info.Active
			}
		}
		return n
	}
	testwait.For(t, 10*time.Second, "a send of "+victim+"'s shards active", func() bool { return active() > 0 })
	sentBefore := len(sb.Requests())
	restarted := time.Now()
	if !restarted.Before(lastDue) {
		t.Fatalf("the node goes %s into the run, when every send is due: the restart stops none waiting", restarted.Sub(start))
	}
	if err := cluster.Restart(node); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted %s, holding %v, after %d requests, %s into the run; back in %s",
		victim, shardsOn[victim], sentBefore, restarted.Sub(start), time.Since(restarted))

	// The producer carries on too.
	for _, account := range shardAccounts {
		for i := range 5 {
			enqueue(account, fmt.Sprintf("after-%s-%d", account, i), time.Time{})
		}
	}

	// Every send completes; none is archived.
	pending := slices.Clone(ids)
	for len(pending) > 0 {
		var left []string
		for _, id := range pending {
			s, err := p.Status(ctx, id)
			switch {
			case err == nil && s.State == producer.StateArchived:
				t.Fatalf("send %s archived after %d attempts: %s", id, s.Retried, s.LastError)
			case err != nil || s.State != producer.StateCompleted:
				left = append(left, id)
			}
		}
		pending = left
		if len(pending) > 0 && ctx.Err() != nil {
			for _, id := range pending {
				s, err := p.Status(context.Background(), id)
				t.Errorf("send %s never completed: %+v, %v", id, s, err)
			}
			t.Fatalf("%d of %d sends not completed %s after the restart", len(pending), len(ids), time.Since(restarted))
		}
		if len(pending) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("all %d sends completed %s after the restart", len(ids), time.Since(restarted))

	// Each once at the provider, and nothing else.
	sent := e.sentTexts()
	for _, key := range keys {
		if sent[key] != 1 {
			t.Errorf("%s sent %d times, want once", key, sent[key])
		}
		delete(sent, key)
	}
	for text, n := range sent {
		t.Errorf("%q sent %d times, and no send carries it", text, n)
	}
}
