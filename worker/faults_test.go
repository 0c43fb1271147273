package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/internal/workertest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
)

// TestProviderFaultsEndDelivered sends through a provider that answers 30%
// of requests 5xx, lets 10% time out, drops 5% of connections and answers
// bursts of 429s: every send is delivered in the end, none ends archived
// for a transient fault, and the 429s spend no attempt.
func TestProviderFaultsEndDelivered(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"RETRY_BACKOFF_BASE": "200ms", "RETRY_BACKOFF_MAX": "2s", "WORKER_CONCURRENCY": "32"})
	e.sandbox.SetFaults(sandbox.Faults{ServerErrors: 0.3, Slow: 0.1, SlowDelay: 6 * time.Second, Drops: 0.05})
	burst := make([]sandbox.Answer, 10)
	for i := range burst {
		burst[i] = sandbox.Answer{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}, Body: `{}`}
	}
	e.sandbox.Script(burst...)

	const n = 150
	p := producer.NewFromClient(e.rdb) // the default 25 retries: some sends meet several faults
	ids := make([]string, n)
	for i := range n {
		res, err := p.EnqueueJSON(context.Background(), []byte(fmt.Sprintf(`{"type":"mateo:send_message","key":"f%d","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"%d"}}`, i, i)))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = res.ID
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		info, err := e.inspector.GetQueueInfo("mateo")
		if err != nil {
			t.Fatal(err)
		}
		if info.Archived > 0 {
			archived, _ := e.inspector.ListArchivedTasks("mateo", asynq.PageSize(1))
			t.Fatalf("%d sends archived for transient faults: %s", info.Archived, archived[0].LastErr)
		}
		if workertest.Completed(t, e.rdb, "mateo") == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all delivered: %+v", info)
		}
	}
	var spent, limited int
	for _, id := range ids {
		s, err := e.producer.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		spent += s.Retried
	}
	faults := 0
	for _, r := range e.sandbox.Requests() {
		switch {
		case r.Status == http.StatusTooManyRequests:
			limited++
		case r.Status != http.StatusOK:
			faults++
		}
	}
	if limited != len(burst) {
		t.Errorf("%d 429s answered, want the burst of %d", limited, len(burst))
	}
	if spent > faults {
		t.Errorf("%d attempts spent for %d faulty answers: the 429s spent some", spent, faults)
	}
	t.Logf("%d sends delivered through %d faulty answers and %d 429s; %d attempts spent", n, faults, limited, spent)
}
