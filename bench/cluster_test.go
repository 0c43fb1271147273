package bench

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The bench's Cluster serves every slot from three masters; a queue's keys
// live on the master nodeOf names, whose commandstats count a command sent
// through a cluster client, and the masters' lines sum over the Cluster; flush empties every master; stop ends the
// nodes.
func TestClusterServesQueuesWhereNodeOfSays(t *testing.T) {
	ctx := context.Background()
	c, err := startCluster(&env{tmp: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			c.stop()
		}
	}()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.addrs})
	defer rdb.Close()
	// The client learns the slots and the commands, and opens a connection
	// to each master, on its first commands: their CLUSTER, COMMAND and
	// HELLO come before the counts.
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() }); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Get(ctx, "warm-up").Err(); err != redis.Nil {
		t.Fatalf("GET of a missing key: %v", err)
	}

	onNode := map[int]bool{}
	for q := range 30 {
		queue := fmt.Sprintf("mateo-%d", q)
		i, err := c.nodeOf(ctx, queue)
		if err != nil {
			t.Fatal(err)
		}
		onNode[i] = true
		before, _, err := c.calls(ctx)
		if err != nil {
			t.Fatal(err)
		}
		key := "asynq:{" + queue + "}:processed"
		if err := rdb.Set(ctx, key, 7, 0).Err(); err != nil {
			t.Fatal(err)
		}
		after, stats, err := c.calls(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := after[i] - before[i]; d != 1 {
			t.Fatalf("queue %s: master %d ran %v commands for one SET, want 1", queue, i, d)
		}
		if got := stats["set"].calls; got != float64(q+1) {
			t.Fatalf("after %d SETs, the masters' commandstats sum to %v SETs", q+1, got)
		}
		got, err := counters(ctx, c.nodes[i], []string{queue, "never-used"})
		if err != nil {
			t.Fatal(err)
		}
		if got[queue].done != 7 || got["never-used"].done != 0 {
			t.Fatalf("counters on master %d: %+v", i, got)
		}
	}
	if len(onNode) != clusterMasters {
		t.Fatalf("30 queues landed on masters %v, want all %d", onNode, clusterMasters)
	}
	if err := c.flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, n := range c.nodes {
		if size := n.DBSize(ctx).Val(); size != 0 {
			t.Fatalf("master %d keeps %d keys after flush", i, size)
		}
	}
	c.stop()
	stopped = true
	for _, addr := range c.addrs {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			t.Fatalf("master %s still listens after stop", addr)
		}
	}
}
