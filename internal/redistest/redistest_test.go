package redistest_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
)

func TestStart(t *testing.T) {
	t.Parallel()
	conn := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: conn.Addr})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestStartCluster(t *testing.T) {
	t.Parallel()
	addrs := redistest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs[:1]})
	defer c.Close()
	// Keys spread over the slots land on every master.
	owners := map[string]int{}
	for i := range 30 {
		key := fmt.Sprintf("key-%d", i)
		if err := c.Set(ctx, key, i, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		node, err := c.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		owners[node.Options().Addr]++
	}
	if len(owners) != len(addrs) {
		t.Errorf("keys on %d nodes (%v), want all %d of %v", len(owners), owners, len(addrs), addrs)
	}
	var total atomic.Int64
	err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		size, err := n.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if size != int64(owners[n.Options().Addr]) {
			return fmt.Errorf("node %s holds %d keys, want %d", n.Options().Addr, size, owners[n.Options().Addr])
		}
		total.Add(size)
		return nil
	})
	if err != nil || total.Load() != 30 {
		t.Errorf("%d keys in the cluster (%v), want 30", total.Load(), err)
	}
}

func TestStartSentinel(t *testing.T) {
	t.Parallel()
	sentinels, master := redistest.StartSentinel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: master, SentinelAddrs: sentinels})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if role, err := c.Do(ctx, "ROLE").Slice(); err != nil || role[0] != "master" {
		t.Errorf("ROLE through the Sentinels: %v %v, want master", role, err)
	}
}
