package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
)

// TestQueueWeightsHoldWhateverTheShardsOfTheirBusyAccounts: with
// WORKER_QUEUES=mateo=1,bulk=1 two full queues share a worker half and
// half, though mateo's sends are of three accounts (three shards with
// tasks) and bulk's of one. Were each shard asked as a queue of its own,
// mateo would take three sends for each of bulk's.
func TestQueueWeightsHoldWhateverTheShardsOfTheirBusyAccounts(t *testing.T) {
	t.Parallel()
	url := "redis://" + redistest.Start(t).Addr + "/0"
	ctx := context.Background()
	p, err := producer.Open(url, producer.WithQueueShards(3))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const each = 30 // sends of each mateo account; as many in bulk, of one account
	var ids []string
	enqueue := func(account, queue, text string) {
		t.Helper()
		q := ""
		if queue != "" {
			q = `"queue":"` + queue + `",`
		}
		res, err := p.EnqueueJSON(ctx, []byte(`{"type":"mateo:send_message","account":"`+account+`",`+q+
			`"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"`+text+`"}}`))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	for i := range each {
		for _, account := range shardAccounts {
			enqueue(account, "", fmt.Sprintf("m-%s-%d", account, i))
		}
	}
	for i := range each * len(shardAccounts) {
		enqueue("default", "bulk", fmt.Sprintf("b-%d", i))
	}
	e := setup(t, map[string]string{"REDIS_URL": url, "QUEUE_SHARDS": "3", "WORKER_QUEUES": "mateo=1,bulk=1", "WORKER_CONCURRENCY": "1"})
	e.waitDone(t, ids, 60*time.Second)

	// The first half of the requests: about half of them bulk's when the
	// weights hold (45 of 90, sd 4.7), a quarter when they follow the
	// busy shards (22 of 90, sd 4.1).
	first := len(ids) / 2
	bulk, seen := 0, 0
	for _, r := range e.sandbox.Requests() {
		_, text, ok := strings.Cut(string(r.Body), `"text":"`)
		if !ok || seen == first {
			continue
		}
		seen++
		if strings.HasPrefix(text, "b-") {
			bulk++
		}
	}
	if bulk < 34 {
		t.Errorf("bulk (weight 1, one account) had %d of the first %d requests, mateo (weight 1, three accounts) %d; want about half each",
			bulk, seen, seen-bulk)
	}
}
