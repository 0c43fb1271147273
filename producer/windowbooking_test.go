package producer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/tasks"
)

// setupWindowBooking returns a producer booking LeadConnector's slots at
// 10/s on a fresh Redis, a client of it, and a window of an hour that
// opens on the hour, an hour or two from now, with its opening.
func setupWindowBooking(t *testing.T) (conn asynq.RedisClientOpt, p *producer.Producer, rdb *redis.Client, opening time.Time, win string) {
	t.Helper()
	conn = redistest.Start(t)
	limits := ratelimit.Limits{"leadconnector": {{Count: 10, Period: time.Second}}}
	p = producer.New(conn, producer.WithRateLimits(limits))
	t.Cleanup(func() { _ = p.Close() })
	rdb = redis.NewClient(&redis.Options{Addr: conn.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	opening = time.Now().UTC().Add(2 * time.Hour).Truncate(time.Hour)
	win = fmt.Sprintf(`{"tz":"UTC","from":%q,"to":%q}`, opening.Format("15:04"), opening.Add(time.Hour).Format("15:04"))
	return conn, p, rdb, opening, win
}

// Sends held for their window's opening are booked when enqueued, one by
// one and in a batch: the first of an account at the opening, the rest
// spaced by its limit after it, and each task handed to asynq for its own
// slot. Booked by the workers once the window opens, they would all reach
// them at the opening, and the first of each account go late by the time
// the bookings of the others take.
func TestSendsHeldForTheirWindowAreBookedAtTheOpening(t *testing.T) {
	t.Parallel()
	conn, p, rdb, opening, win := setupWindowBooking(t)
	ins := asynq.NewInspector(conn)
	defer ins.Close()
	ctx := context.Background()

	const n = 30 // 3 s of the account's limit
	envelope := func(account string, i int) string {
		return fmt.Sprintf(`{"type":"leadconnector:send_message","account":%q,"window":%s,"payload":{"type":"SMS","contactId":"c%d","message":"Hi %d"}}`, account, win, i, i)
	}
	ids := map[string][]string{}
	for i := range n {
		res, err := p.EnqueueJSON(ctx, []byte(envelope("one", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids["one"] = append(ids["one"], res.ID)
	}
	var b strings.Builder
	for i := range n {
		fmt.Fprintln(&b, envelope("batch", i))
	}
	if sum, err := p.Batch(ctx, strings.NewReader(b.String()), producer.BatchOptions{}); err != nil || sum.Enqueued != n {
		t.Fatalf("batch: %+v, %v; want %d enqueued", sum, err, n)
	}

	for _, account := range []string{"one", "batch"} {
		key := "punctual:rl:{leadconnector:" + account + "}:bookings"
		slots, err := rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(slots) != n {
			t.Fatalf("account %s: %d bookings, want its %d sends booked when enqueued", account, len(slots), n)
		}
		if first := time.UnixMilli(int64(slots[0].Score)); !first.Equal(opening) {
			t.Errorf("account %s: first booking at %s, want the opening %s", account, first, opening)
		}
		for i := 1; i < n; i++ {
			if gap := slots[i].Score - slots[i-1].Score; gap < 103 {
				t.Errorf("account %s: bookings %d and %d %.0f ms apart, under the 10/s spacing", account, i, i+1, gap)
			}
		}
		// Each task reaches a worker tasks.Lead before its own slot (asynq
		// keeps whole seconds), not with the others at the opening.
		for _, z := range slots {
			id := z.Member.(string)
			info, err := ins.GetTaskInfo("leadconnector", id)
			if err != nil {
				t.Fatal(err)
			}
			slot := time.UnixMilli(int64(z.Score))
			want := slot.Add(-tasks.Lead).Truncate(time.Second)
			if !info.NextProcessAt.Equal(want) {
				t.Errorf("account %s: task %s handed to asynq for %s, want %s (its slot %s less the lead)", account, id, info.NextProcessAt.UTC(), want.UTC(), slot.UTC())
			}
		}
	}
	// The status still says what the window gave the send.
	s, err := p.Status(ctx, ids["one"][n-1])
	if err != nil {
		t.Fatal(err)
	}
	if !s.WindowAt.Equal(opening) {
		t.Errorf("status window_at %s, want the opening %s", s.WindowAt, opening)
	}
}

// A send booked for its window's opening when enqueued, then cancelled or
// rescheduled, frees that booking: the calendar keeps no slot of a send
// that will not be made there.
func TestABookingForTheOpeningIsFreedByACancelOrAReschedule(t *testing.T) {
	t.Parallel()
	_, p, rdb, opening, win := setupWindowBooking(t)
	ctx := context.Background()
	const key = "punctual:rl:{leadconnector:one}:bookings"
	var ids []string
	for i := range 2 {
		res, err := p.EnqueueJSON(ctx, []byte(fmt.Sprintf(`{"type":"leadconnector:send_message","account":"one","window":%s,"payload":{"type":"SMS","contactId":"c%d","message":"Hi"}}`, win, i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.ZScore(ctx, key, res.ID).Err(); err != nil {
			t.Fatalf("send %d not booked for the opening: %v", i, err)
		}
		ids = append(ids, res.ID)
	}
	if err := p.Cancel(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reschedule(ctx, ids[1], opening.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := rdb.ZCard(ctx, key).Val(); n != 0 {
		t.Errorf("%d bookings left for the opening after a cancel and a reschedule, want 0: %v", n, rdb.ZRange(ctx, key, 0, -1).Val())
	}
}
