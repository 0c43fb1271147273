package producer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
)

// BenchmarkCancelGroup cancels a group of 10,000 scheduled sends spread
// over three queues, on one Redis and on a Cluster, where the queues and
// the group are in slots of their own.
func BenchmarkCancelGroup(b *testing.B) {
	for _, c := range []struct {
		name string
		conn func(testing.TB) asynq.RedisConnOpt
	}{
		{"redis", func(tb testing.TB) asynq.RedisConnOpt { return redistest.Start(tb) }},
		{"cluster", func(tb testing.TB) asynq.RedisConnOpt {
			return asynq.RedisClusterClientOpt{Addrs: redistest.StartCluster(tb)}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := producer.New(c.conn(b))
			defer p.Close()
			ctx := context.Background()
			const n = 10000
			queues := []string{"mateo", "bulk", "reminders"}
			b.ResetTimer() // not the start of Redis
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				group := fmt.Sprintf("contact:%d", i)
				var lines strings.Builder
				due := time.Now().Add(time.Hour).Format(time.RFC3339Nano)
				for j := range n {
					fmt.Fprintf(&lines, `{"type":"mateo:send_message","queue":%q,"group":%q,"process_at":%q,"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"send %d"}}`+"\n",
						queues[j%len(queues)], group, due, j)
				}
				if sum, err := p.Batch(ctx, strings.NewReader(lines.String()), producer.BatchOptions{}); err != nil || sum.Enqueued != n {
					b.Fatalf("batch: %+v, %v", sum, err)
				}
				b.StartTimer()
				res, err := p.CancelGroup(ctx, group)
				if err != nil || res.Cancelled != n {
					b.Fatalf("cancel: %+v, %v", res, err)
				}
			}
		})
	}
}

// TestADuplicateDoesNotJoinTheSendItDuplicatesToItsGroup: an envelope
// refused as a duplicate leaves nothing behind, and a cancel of the group
// it named must not reach the send that already had its key — whether it
// is sent alone (Enqueue) or in a batch — while a duplicate naming the
// send's own group leaves it in that group.
func TestADuplicateDoesNotJoinTheSendItDuplicatesToItsGroup(t *testing.T) {
	t.Parallel()
	p := openProducer(t)
	ctx := context.Background()
	envelope := func(key, group string) string { return windowEnvelope(key, group, "2099-01-01T00:00:00Z", "") }
	first, err := p.EnqueueJSON(ctx, []byte(envelope("alone", "")))
	if err != nil {
		t.Fatal(err)
	}
	inGroup, err := p.EnqueueJSON(ctx, []byte(envelope("grouped", "g:kept")))
	if err != nil {
		t.Fatal(err)
	}
	if dup, err := p.EnqueueJSON(ctx, []byte(envelope("alone", "g:other"))); err != nil || !dup.Duplicate {
		t.Fatalf("the same key again: %+v, %v; want a duplicate", dup, err)
	}
	batch := envelope("alone", "g:batch") + "\n" + envelope("grouped", "g:kept") + "\n"
	if sum, err := p.Batch(ctx, strings.NewReader(batch), producer.BatchOptions{}); err != nil || sum.Duplicate != 2 {
		t.Fatalf("batch: %+v, %v; want 2 duplicates", sum, err)
	}
	for _, group := range []string{"g:other", "g:batch"} {
		gc, err := p.CancelGroup(ctx, group)
		if err != nil || gc.Cancelled != 0 {
			t.Errorf("cancel of %s: %+v, %v; want nothing cancelled", group, gc, err)
		}
	}
	if s, err := p.Status(ctx, first.ID); err != nil || s.State != producer.StateScheduled {
		t.Errorf("the send the duplicates named: %+v, %v; want it scheduled still", s, err)
	}
	if gc, err := p.CancelGroup(ctx, "g:kept"); err != nil || gc.Cancelled != 1 {
		t.Errorf("cancel of g:kept: %+v, %v; want its send cancelled", gc, err)
	}
	if s, err := p.Status(ctx, inGroup.ID); err != nil || s.State != producer.StateCancelled {
		t.Errorf("the send of g:kept: %+v, %v; want it cancelled", s, err)
	}
}

// TestAKeyCancelledAloneAndEnqueuedAgainIsNotInItsOldGroup: a cancel frees
// the send's key, and the send enqueued again with it, in no group, is out
// of reach of a cancel of the group the first one was in.
func TestAKeyCancelledAloneAndEnqueuedAgainIsNotInItsOldGroup(t *testing.T) {
	t.Parallel()
	p := openProducer(t)
	ctx := context.Background()
	envelope := func(group string) []byte { return []byte(windowEnvelope("k1", group, "2099-01-01T00:00:00Z", "")) }
	first, err := p.EnqueueJSON(ctx, envelope("g:old"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	again, err := p.EnqueueJSON(ctx, envelope(""))
	if err != nil || again.Duplicate {
		t.Fatalf("the key enqueued again: %+v, %v; want a new send", again, err)
	}
	if gc, err := p.CancelGroup(ctx, "g:old"); err != nil || gc.Cancelled != 0 {
		t.Errorf("cancel of g:old: %+v, %v; want nothing cancelled", gc, err)
	}
	if s, err := p.Status(ctx, again.ID); err != nil || s.State != producer.StateScheduled {
		t.Errorf("the new send, in no group: %+v, %v; want it scheduled", s, err)
	}
}
