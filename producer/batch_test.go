package producer_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"punctual/internal/redistest"
	"punctual/producer"
)

// lines returns n valid envelopes, one per line, none with a key.
func lines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c%d","message":"Hi %d"}}`+"\n", i, i)
	}
	return b.String()
}

// count returns how many tasks the queue holds.
func count(t *testing.T, conn asynq.RedisClientOpt) int {
	t.Helper()
	ins := asynq.NewInspector(conn)
	defer ins.Close()
	info, err := ins.GetQueueInfo("leadconnector")
	if err != nil {
		t.Fatal(err)
	}
	return info.Size
}

func TestBatchInterruptedThenResumedEnqueuesEachLineOnce(t *testing.T) {
	t.Parallel()
	conn := redistest.Start(t)
	p := producer.New(conn)
	defer p.Close()
	const n = 2000
	file := lines(n)

	// Interrupted once a third of the lines are done, as by Ctrl-C.
	ctx, cancel := context.WithCancel(context.Background())
	var done atomic.Int64
	first, err := p.Batch(ctx, strings.NewReader(file), producer.BatchOptions{Concurrency: 8, OnLine: func() {
		if done.Add(1) == n/3 {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("the interrupted run reported no error")
	}
	if first.Enqueued == 0 || first.Enqueued >= n {
		t.Fatalf("the interrupted run enqueued %d of %d; want part", first.Enqueued, n)
	}

	second, err := p.Batch(context.Background(), strings.NewReader(file), producer.BatchOptions{Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if second.Enqueued+second.Duplicate != n || second.Duplicate != first.Enqueued || second.Rejected != 0 {
		t.Errorf("resumed run %+v after %+v; want the rest enqueued and the first part duplicate", second, first)
	}
	if got := count(t, conn); got != n {
		t.Errorf("%d tasks in Redis, want %d", got, n)
	}
}

func TestBatchDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	conn := redistest.Start(t)
	p := producer.New(conn)
	defer p.Close()
	sum, err := p.Batch(context.Background(), strings.NewReader(lines(50)+"{}\n"), producer.BatchOptions{DryRun: true})
	if err != nil || sum.Lines != 51 || sum.Rejected != 1 || sum.Enqueued != 50 {
		t.Fatalf("dry run %+v, %v", sum, err)
	}
	ins := asynq.NewInspector(conn)
	defer ins.Close()
	if queues, _ := ins.Queues(); len(queues) != 0 {
		t.Errorf("a dry run created queues %v", queues)
	}
}

func TestBatchEnqueuesAfterRedisForgetsItsScripts(t *testing.T) {
	t.Parallel()
	conn := redistest.Start(t)
	p := producer.New(conn)
	defer p.Close()
	if sum, err := p.Batch(context.Background(), strings.NewReader(lines(10)), producer.BatchOptions{}); err != nil || sum.Enqueued != 10 {
		t.Fatalf("first batch %+v, %v", sum, err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: conn.Addr})
	defer rdb.Close()
	if err := rdb.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// Concurrent enqueues share round trips; each must still load its
	// script again and run once.
	sum, err := p.Batch(context.Background(), strings.NewReader(lines(500)), producer.BatchOptions{Concurrency: 32})
	if err != nil || sum.Enqueued != 490 || sum.Duplicate != 10 {
		t.Fatalf("batch after SCRIPT FLUSH %+v, %v; want 490 enqueued, 10 duplicate", sum, err)
	}
	if got := count(t, conn); got != 500 {
		t.Errorf("%d tasks in Redis, want 500", got)
	}
}
