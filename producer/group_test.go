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
