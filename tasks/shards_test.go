package tasks

import (
	"fmt"
	"testing"

	"github.com/punctualhq/punctual/internal/asynqadapter"
)

func TestShardsAreSpreadEvenlyOverTheSlotsOfAnEvenCluster(t *testing.T) {
	t.Parallel()
	// Three masters with the slots split as redis-cli --cluster create
	// splits them.
	master := func(slot int) int { return min(slot/5462, 2) }
	for _, queue := range []string{"mateo", "leadconnector", "priority-sends"} {
		for _, n := range []int{3, 6, 12, 24, 48} {
			per := make([]int, 3)
			seen := map[string]bool{}
			for _, s := range Shards(queue, n) {
				if seen[s] || QueueOf(s) != queue {
					t.Fatalf("%s/%d: shard %q repeated or not of the queue", queue, n, s)
				}
				seen[s] = true
				per[master(asynqadapter.QueueSlot(s))]++
			}
			for m, k := range per {
				if k < n/3-1 || k > n/3+1 {
					t.Errorf("%s with %d shards: master %d holds %d of them (%v)", queue, n, m, k, per)
				}
			}
		}
	}
}

func TestAnAccountsSendsStayInOneShardAndOneShardIsTheQueue(t *testing.T) {
	t.Parallel()
	if got := ShardOf("mateo", "acme", 1); got != "mateo" {
		t.Fatalf("one shard: %q, want the queue itself", got)
	}
	if got := Shards("mateo", 12)[0]; got != "mateo" {
		t.Fatalf("shard 0 is %q, want the queue's own name", got)
	}
	used := map[string]int{}
	for i := range 3000 {
		account := fmt.Sprintf("loc-%d", i)
		s := ShardOf("mateo", account, 12)
		if again := ShardOf("mateo", account, 12); again != s {
			t.Fatalf("account %s: shard %q then %q", account, s, again)
		}
		used[s]++
	}
	if len(used) != 12 {
		t.Fatalf("3000 accounts use %d of 12 shards", len(used))
	}
	for s, k := range used {
		if k < 150 || k > 350 {
			t.Errorf("shard %s has %d of 3000 accounts", s, k)
		}
	}
}
