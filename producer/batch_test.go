package producer_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/ratelimit"
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

// A batch books the slots of the lines due now, many per round trip, each
// as a booking of its own would: spaced by the account's limit; run again,
// its lines are duplicates and the bookings of the first run stay.
func TestBatchBooksTheSlotsOfLinesDueNow(t *testing.T) {
	t.Parallel()
	conn := redistest.Start(t)
	// The day window keeps every booking in the calendar, past ones too.
	limits := ratelimit.Limits{"leadconnector": {{Count: 10, Period: time.Second}, {Count: 100000, Period: 24 * time.Hour}}}
	p := producer.New(conn, producer.WithRateLimits(limits))
	defer p.Close()
	rdb := redis.NewClient(&redis.Options{Addr: conn.Addr})
	defer rdb.Close()
	const n = 300 // several chunks, interleaved from three accounts
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"type":"leadconnector:send_message","account":"a%d","payload":{"type":"SMS","contactId":"c%d"}}`+"\n", i%3, i)
	}
	// bookings returns an account's booked times from from on, in order.
	bookings := func(a int, from float64) []redis.Z {
		t.Helper()
		slots, err := rdb.ZRangeByScoreWithScores(context.Background(), fmt.Sprintf("punctual:rl:{leadconnector:a%d}:bookings", a),
			&redis.ZRangeBy{Min: fmt.Sprint(from), Max: "+inf"}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return slots
	}
	later := float64(time.Now().Add(5 * time.Second).UnixMilli())
	var kept [3]int
	for run := range 2 {
		sum, err := p.Batch(context.Background(), strings.NewReader(b.String()), producer.BatchOptions{Concurrency: 4})
		if err != nil {
			t.Fatal(err)
		}
		if want := (producer.BatchSummary{Lines: n, Enqueued: n * (1 - run), Duplicate: n * run}); sum != want {
			t.Fatalf("run %d: %+v, want %+v", run+1, sum, want)
		}
		for a := range 3 {
			if run == 0 {
				slots := bookings(a, 0)
				if len(slots) != n/3 {
					t.Fatalf("account a%d: %d bookings, want %d", a, len(slots), n/3)
				}
				for i := 1; i < len(slots); i++ {
					if gap := slots[i].Score - slots[i-1].Score; gap < 103 {
						t.Errorf("account a%d: bookings %d and %d %.0f ms apart, under the 10/s spacing", a, i, i+1, gap)
					}
				}
				kept[a] = len(bookings(a, later))
			} else if got := len(bookings(a, later)); got != kept[a] {
				t.Errorf("account a%d: %d bookings after 5 s once the batch ran again, want the %d of the first run", a, got, kept[a])
			}
		}
	}
}
