package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/state"
)

// keyed is a Mateo send with key due at at, in queue when not empty.
func keyed(key, at, queue string) string {
	q := ""
	if queue != "" {
		q = `"queue":"` + queue + `",`
	}
	return `{"type":"mateo:send_message","key":"` + key + `",` + q + `"process_at":"` + at + `","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi"}}`
}

func TestACancelledKeyIsANewSendWhenEnqueuedAgain(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	at, _ := dueIn(1500 * time.Millisecond)
	id := e.enqueue(t, keyed("reminder-1", at, ""))
	e.waitState(t, id, "active", 3*time.Second) // held by the worker for its time
	if err := e.producer.Cancel(ctx, id); err != nil {
		t.Fatalf("cancel: %v", err)
	}

	at, due := dueIn(time.Second)
	res, err := e.producer.EnqueueJSON(ctx, []byte(keyed("reminder-1", at, "")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicate || res.ID != id {
		t.Fatalf("enqueued again: %+v, want a new send under the same id %s", res, id)
	}
	s := e.waitState(t, id, "completed", 5*time.Second)
	reqs := e.sandbox.Requests()
	if len(reqs) != 1 || reqs[0].At.Before(due) {
		t.Fatalf("%d requests (%v), want the later send only, at or after %s", len(reqs), reqs, due)
	}
	if s.Result == nil || s.Result.Status != http.StatusOK {
		t.Errorf("result %+v, want the provider's 200", s.Result)
	}
}

func TestWaitsNeverArchiveASend(t *testing.T) {
	t.Parallel()
	t.Run("rate-limit waits with MAX_RETRY=0", func(t *testing.T) {
		t.Parallel()
		e := setup(t, map[string]string{"RATE_LIMITS": "mateo=1/s"})
		p := producer.NewFromClient(e.rdb, producer.WithMaxRetry(0))
		// The fifth's slot is four seconds away: it waits twice.
		ids := enqueueEach(t, p, 5, func(int) string { return plainMessage })
		e.completedFirstTry(t, ids, 10*time.Second)
	})
	t.Run("a 429 after the retries are used up", func(t *testing.T) {
		t.Parallel()
		e := setup(t, nil)
		p := producer.NewFromClient(e.rdb, producer.WithMaxRetry(1))
		e.sandbox.Script(
			sandbox.Answer{Status: http.StatusServiceUnavailable, Body: `{"message":"down"}`},
			sandbox.Answer{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}, Body: `{"message":"slow down"}`},
		)
		res, err := p.EnqueueJSON(context.Background(), []byte(plainMessage))
		if err != nil {
			t.Fatal(err)
		}
		s := e.waitState(t, res.ID, "completed", 10*time.Second)
		if s.Retried != 1 || s.MaxRetry != 1 {
			t.Errorf("retried %d of %d, want the one failure of 1", s.Retried, s.MaxRetry)
		}
		if n := len(e.sandbox.Requests()); n != 3 {
			t.Errorf("%d requests, want 3 (503, 429, 200)", n)
		}
	})
	t.Run("a failure with MAX_RETRY=0 is archived at once", func(t *testing.T) {
		t.Parallel()
		e := setup(t, nil)
		p := producer.NewFromClient(e.rdb, producer.WithMaxRetry(0))
		e.sandbox.Script(sandbox.Answer{Status: http.StatusServiceUnavailable, Body: `{"message":"down"}`})
		res, err := p.EnqueueJSON(context.Background(), []byte(plainMessage))
		if err != nil {
			t.Fatal(err)
		}
		e.archivedAfter(t, res.ID, 1, "no retries left", "503")
	})
}

func TestTheArchiveKeepsEveryRefusedSend(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"WORKER_CONCURRENCY": "64", "NO_ACCOUNT_GRACE": "0s"})
	const n = 10050 // asynq alone keeps the newest 10,000
	ctx := context.Background()
	ids := make([]string, n)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				// An account with no token on the worker: refused for good.
				res, err := e.producer.EnqueueJSON(ctx, []byte(`{"type":"mateo:send_message","account":"nobody","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}}`))
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = res.ID
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		info, err := e.inspector.GetQueueInfo("mateo")
		if err == nil && info.Archived == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("archive %+v (err %v), want %d archived", info, err, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, id := range []string{ids[0], ids[n/2], ids[n-1]} {
		if s, err := e.producer.Status(ctx, id); err != nil || s.State != "archived" {
			t.Errorf("%s: %+v, %v; want archived", id, s, err)
		}
	}
	listed, err := e.producer.List(ctx, producer.ListOptions{State: producer.StateArchived, Queue: "mateo", Limit: n + 10})
	if err != nil || len(listed) != n {
		t.Errorf("list --state archived: %d (%v), want %d", len(listed), err, n)
	}
}

func TestAKeyIsUniqueAcrossQueues(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	at, _ := dueIn(2 * time.Second)
	first, err := e.producer.EnqueueJSON(ctx, []byte(keyed("order-7", at, "")))
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.producer.EnqueueJSON(ctx, []byte(keyed("order-7", at, "bulk")))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.ID != first.ID || again.Queue != "mateo" {
		t.Fatalf("the key in another queue: %+v, want a duplicate of %s in mateo", again, first.ID)
	}
	if _, err := e.inspector.GetQueueInfo("bulk"); err == nil {
		if tasks, _ := e.inspector.ListScheduledTasks("bulk"); len(tasks) != 0 {
			t.Errorf("bulk holds %d tasks", len(tasks))
		}
	}

	// The same key in its own queue again: a duplicate too, which must
	// not keep the key once the send is cancelled.
	if dup, err := e.producer.EnqueueJSON(ctx, []byte(keyed("order-7", at, ""))); err != nil || !dup.Duplicate {
		t.Fatalf("the key in its own queue again: %+v, %v; want a duplicate", dup, err)
	}

	// A cancelled key is free in every queue.
	if err := e.producer.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	moved, err := e.producer.EnqueueJSON(ctx, []byte(keyed("order-7", at, "bulk")))
	if err != nil {
		t.Fatal(err)
	}
	if moved.Duplicate || moved.Queue != "bulk" {
		t.Fatalf("after the cancel: %+v, want a new send in bulk", moved)
	}
	if dup, err := e.producer.EnqueueJSON(ctx, []byte(keyed("order-7", at, ""))); err != nil || !dup.Duplicate || dup.Queue != "bulk" {
		t.Fatalf("the key in the provider's queue again: %+v, %v; want a duplicate in bulk", dup, err)
	}
	e.waitState(t, moved.ID, "completed", 5*time.Second)
	if n := len(e.sandbox.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestACutOffSuccessIsASend(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	const n = 20
	answer := sandbox.Answer{Status: http.StatusOK, Body: `{"conversationId":"c1","messageId":"m1","msg":"Message queued successfully."}`, Cut: true}
	for range n {
		e.sandbox.Script(answer)
	}
	var ids []string
	for range n {
		ids = append(ids, e.enqueue(t, `{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"abc123","message":"Hi"}}`))
	}
	e.waitDone(t, ids, 10*time.Second)
	for _, id := range ids {
		s := e.waitState(t, id, "completed", time.Second)
		if s.Result == nil || s.Result.Status != http.StatusOK || s.Retried != 0 {
			t.Errorf("%s: %+v, want completed with the 200 at the first try", id, s)
		}
	}
	if got := len(e.sandbox.Requests()); got != n {
		t.Errorf("%d requests for %d sends the provider took", got, n)
	}
}

func TestAtMostOnceParksAnUnknownOutcome(t *testing.T) {
	t.Parallel()
	const lcSend = `{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"abc123","message":"Hi"}}`
	t.Run("leadconnector named: archived as unknown, sent again by hand", func(t *testing.T) {
		t.Parallel()
		e := setup(t, map[string]string{"AT_MOST_ONCE": "leadconnector"})
		e.sandbox.Script(sandbox.Answer{Drop: true})
		id := e.enqueue(t, lcSend)
		e.archivedAfter(t, id, 1, "outcome unknown")
		if err := e.producer.Retry(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		e.waitState(t, id, "completed", 5*time.Second)
		if n := len(e.sandbox.Requests()); n != 2 {
			t.Errorf("%d requests after the retry by hand, want 2", n)
		}
	})
	t.Run("mateo not named: retried with the same message id", func(t *testing.T) {
		t.Parallel()
		e := setup(t, map[string]string{"AT_MOST_ONCE": "leadconnector"})
		e.sandbox.Script(sandbox.Answer{Drop: true})
		id := e.enqueue(t, plainMessage)
		e.waitState(t, id, "completed", 8*time.Second)
		if reqs := e.sandbox.Requests(); len(reqs) != 2 || string(reqs[0].Body) != string(reqs[1].Body) {
			t.Errorf("%d requests, want the same request twice", len(reqs))
		}
	})
	t.Run("a send whose worker died mid-request", func(t *testing.T) {
		t.Parallel()
		e := setup(t, map[string]string{"AT_MOST_ONCE": "leadconnector"})
		at, _ := dueIn(1500 * time.Millisecond)
		id := e.enqueue(t, `{"type":"leadconnector:send_message","process_at":"`+at+`","payload":{"type":"SMS","contactId":"abc123","message":"Hi"}}`)
		// What a worker killed after writing its request leaves behind.
		info, err := asynq.NewInspectorFromRedisClient(e.rdb).GetTaskInfo("leadconnector", id)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.rdb.Set(context.Background(), "punctual:{"+id+"}:sending", state.Fingerprint(info.Payload), time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		e.archivedAfter(t, id, 0, "outcome unknown")
	})
}

func TestAHugeRetryAfterIsAFailureAndEveryKeyExpires(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "accounts.yaml")
	sb := oauthSandbox(t, sandbox.Config{Tokens: map[string]map[string]string{"mateo": {mateoToken: "default"}}}, time.Hour, path, storeFile)
	e := setupWith(t, sb, map[string]string{"RATE_LIMITS": "mateo=5/s", "RETRY_BACKOFF_BASE": "1s",
		"ACCOUNTS_FILE": path, "LEADCONNECTOR_CLIENT_ID": oauthClientID, "LEADCONNECTOR_CLIENT_SECRET": oauthClientSecret, "CREDENTIALS_KEY": credentialsKey})
	e.sandbox.Script(sandbox.Answer{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1000000000000"}}, Body: `{"message":"come back in 31,000 years"}`})
	id := e.enqueue(t, plainMessage)
	s := e.waitState(t, id, "completed", 10*time.Second)
	if s.Retried != 1 {
		t.Errorf("retried %d, want the absurd wait counted as one failure", s.Retried)
	}
	e.waitDone(t, e.lcSends(t, 1, 0), 10*time.Second)
	keys, err := e.rdb.Keys(context.Background(), "punctual:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	chains := 0
	for _, k := range keys {
		// An OAuth account's chain lasts as long as its refresh token, a
		// year; every other key within ARCHIVE_RETENTION and a margin.
		limit, within := 101*24*time.Hour, "101 days"
		if strings.HasPrefix(k, "punctual:credentials:{") && !strings.HasSuffix(k, ":lock") {
			limit, within = 366*24*time.Hour, "366 days"
			chains++
		}
		ttl, err := e.rdb.PTTL(context.Background(), k).Result()
		if err != nil || ttl < 0 || ttl > limit {
			t.Errorf("key %s: TTL %s (%v), want one within %s", k, ttl, err, within)
		}
	}
	if chains != 1 {
		t.Errorf("%d chains of OAuth accounts in Redis, want 1", chains)
	}
}

func TestTwoProducersRacingOneKeyIntoTwoQueuesMakeOneSend(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	at, _ := dueIn(time.Hour)
	const keys = 200
	var wg sync.WaitGroup
	for i := range keys {
		for _, queue := range []string{"qa", "qb"} {
			wg.Go(func() {
				if _, err := e.producer.EnqueueJSON(ctx, []byte(keyed(fmt.Sprint("race-", i), at, queue))); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	total := 0
	for _, q := range []string{"qa", "qb"} {
		if info, err := e.inspector.GetQueueInfo(q); err == nil {
			total += info.Scheduled
		}
	}
	if total != keys {
		t.Errorf("%d tasks for %d keys enqueued into two queues at once", total, keys)
	}
}
