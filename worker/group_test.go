package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
)

// inGroup is a Mateo send of group in queue, due at due, whose text is text.
func inGroup(group, queue, text string, due time.Time) string {
	return fmt.Sprintf(`{"type":"mateo:send_message","queue":%q,"group":%q,"process_at":%q,"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":%q}}`,
		queue, group, due.Format(time.RFC3339Nano), text)
}

func TestAGroupCancelOfTenThousandSends(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	cancelGroupOfMany(t, e, e.producer, []string{"mateo", "bulk"}, 10000)
}

// cancelGroupOfMany fills a group with n sends over queues: one waiting
// for its retry, a few a worker holds for their time, the others due in an
// hour. It cancels the group and checks that the n are cancelled, recorded
// as cancelled and never sent.
func cancelGroupOfMany(t *testing.T, e *env, p *producer.Producer, queues []string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const group, held = "contact:many", 6
	text := func(i int) string { return fmt.Sprintf("group send %d", i) }
	enqueue := func(envelope string) string {
		t.Helper()
		res, err := p.EnqueueJSON(ctx, []byte(envelope))
		if err != nil || res.Duplicate {
			t.Fatalf("enqueue: %+v, %v", res, err)
		}
		return res.ID
	}

	e.sandbox.Script(sandbox.Answer{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"60"}}})
	retrying := enqueue(inGroup(group, queues[0], text(0), time.Now()))
	e.waitState(t, retrying, "retry", 5*time.Second)

	var lines strings.Builder
	later := time.Now().Add(time.Hour)
	for i := 1; i < n-held; i++ {
		lines.WriteString(inGroup(group, queues[i%len(queues)], text(i), later) + "\n")
	}
	sum, err := p.Batch(ctx, strings.NewReader(lines.String()), producer.BatchOptions{})
	if err != nil || sum.Enqueued != n-held-1 {
		t.Fatalf("batch: %+v, %v; want %d enqueued", sum, err, n-held-1)
	}

	soon := time.Now().Add(2 * time.Second)
	ids := []string{retrying}
	for i := range held {
		ids = append(ids, enqueue(inGroup(group, queues[i%len(queues)], text(n-held+i), soon)))
	}
	for _, id := range ids[1:] {
		e.waitState(t, id, "active", 3*time.Second) // held for its time
	}

	start := time.Now()
	res, err := p.CancelGroup(ctx, group)
	t.Logf("cancelled a group of %d sends over %d queues in %s", n, len(queues), time.Since(start))
	if err != nil || res != (producer.GroupCancel{Cancelled: n}) {
		t.Fatalf("cancel: %+v, %v; want all %d cancelled", res, err, n)
	}

	for _, q := range queues {
		info, err := e.inspector.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		if left := info.Scheduled + info.Pending + info.Active + info.Retry; left != 0 {
			t.Errorf("queue %s still holds %d sends: %+v", q, left, info)
		}
	}
	list, err := p.List(ctx, producer.ListOptions{State: producer.StateCancelled, Limit: n + 100})
	if err != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, s := range list {
		if s.Group == group && !s.CancelledAt.Before(start.Truncate(time.Millisecond)) {
			listed++
		}
	}
	if listed != n {
		t.Errorf("list --state cancelled: %d of the group's sends, want %d", listed, n)
	}
	for _, id := range ids {
		if s, err := p.Status(ctx, id); err != nil || s.State != "cancelled" || s.Group != group {
			t.Errorf("status of %s: %+v, %v; want cancelled with %s", id, s, err, group)
		}
	}

	// A send of no group due after the held ones is the only request
	// besides the refused one: the worker took no send of the group.
	after := enqueue(`{"type":"mateo:send_message","queue":"` + queues[0] + `","process_at":"` + soon.Add(500*time.Millisecond).Format(time.RFC3339Nano) +
		`","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"after the group"}}`)
	e.waitState(t, after, "completed", 5*time.Second)
	var sent []string
	for _, r := range e.sandbox.Requests() {
		if body := string(r.Body); strings.Contains(body, "group send") {
			sent = append(sent, body)
		}
	}
	if len(sent) != 1 || !strings.Contains(sent[0], `"`+text(0)+`"`) {
		t.Errorf("requests of the group: %v, want the refused one only", sent)
	}
}

func TestASendJoiningAGroupWhileItIsCancelledIsCancelledOrSent(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"WORKER_CONCURRENCY": "16"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const group = "appointment:77"
	var lines strings.Builder
	for i := range 2000 {
		lines.WriteString(inGroup(group, "mateo", fmt.Sprintf("later %d", i), time.Now().Add(time.Hour)) + "\n")
	}
	if _, err := e.producer.Batch(ctx, strings.NewReader(lines.String()), producer.BatchOptions{}); err != nil {
		t.Fatal(err)
	}

	// Sends due at once join the group before, while and after it is
	// cancelled. Each is either cancelled and never sent, or sent once;
	// one that joined before the cancel began is cancelled or was sent
	// before the cancel returned, one that began joining after it returned
	// is sent.
	type joined struct {
		id, text     string
		began, ended time.Time
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		sends  []joined
		stop   = make(chan struct{})
		joins  = make(chan struct{}, 1024)
		before = func(n int) {
			for range n {
				<-joins
			}
		}
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("joining %d.%d", w, i)
				began := time.Now()
				res, err := e.producer.EnqueueJSON(ctx, []byte(inGroup(group, "mateo", text, began)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sends = append(sends, joined{res.ID, text, began, time.Now()})
				mu.Unlock()
				select {
				case joins <- struct{}{}:
				default:
				}
			}
		})
	}
	before(20)
	began := time.Now()
	res, err := e.producer.CancelGroup(ctx, group)
	ended := time.Now()
	for range len(joins) {
		<-joins // joined during the cancel
	}
	before(20)
	close(stop)
	wg.Wait()
	if err != nil || res.Cancelled < 2000 {
		t.Fatalf("cancel: %+v, %v; want at least the 2000 sends due later", res, err)
	}

	states := map[string]string{}
	for _, s := range sends {
		states[s.text] = string(e.waitEnded(t, s.id, 10*time.Second).State)
	}
	// Every send has ended: the requests are final.
	requests := map[string][]time.Time{}
	for _, r := range e.sandbox.Requests() {
		var body struct{ Text string }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		requests[body.Text] = append(requests[body.Text], r.At)
	}
	var cancelled, sent int
	for _, s := range sends {
		at := requests[s.text]
		switch states[s.text] {
		case "cancelled":
			cancelled++
			if len(at) != 0 {
				t.Errorf("%s is cancelled and was sent %d times", s.text, len(at))
			}
			if s.began.After(ended) {
				t.Errorf("%s began joining after the cancel returned, and was cancelled", s.text)
			}
		case "completed":
			sent++
			if len(at) != 1 {
				t.Errorf("%s is completed and was sent %d times", s.text, len(at))
			} else if s.ended.Before(began) && at[0].After(ended) {
				t.Errorf("%s joined before the cancel began, and was sent after it returned", s.text)
			}
		default:
			t.Errorf("%s ended %s", s.text, states[s.text])
		}
	}
	t.Logf("%d sends joined the group around its cancel: %d cancelled, %d sent", len(sends), cancelled, sent)
}

// waitEnded waits until the task is completed, archived or cancelled, and
// returns its status.
func (e *env) waitEnded(t *testing.T, id string, within time.Duration) *producer.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, err := e.producer.Status(context.Background(), id)
		if err == nil && (s.State == "completed" || s.State == "archived" || s.State == "cancelled") {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s not ended within %s: %+v (err %v)", id, within, s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A producer that joined a send to its group, then stopped before it put
// the task into its queue, while the group was cancelled: the cancel did
// not find the send, and its worker does not make it.
func TestASendOfAGroupCancelledAfterItJoinedIsNotMade(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	const group = "contact:abc123"
	env, err := tasks.ParseEnvelope([]byte(inGroup(group, "mateo", "joined before the cancel", time.Now())), builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	opts := tasks.Options{Providers: builtin.Registry(), MaxRetry: 3}
	send, err := tasks.Prepare(env, opts)
	if err != nil {
		t.Fatal(err)
	}
	groups := state.Groups{Client: e.rdb}
	m := state.Member{ID: send.ID, Queue: send.Queue, Type: send.Type, Account: send.Payload.Account}
	if send.Payload.GroupGen, err = groups.Join(ctx, group, m, send.Payload.Due, time.Hour); err != nil {
		t.Fatal(err)
	}

	res, err := e.producer.CancelGroup(ctx, group)
	if err != nil || res != (producer.GroupCancel{Gone: 1}) {
		t.Fatalf("cancel: %+v, %v; want the send not found in its queue", res, err)
	}
	task, err := send.Task(opts, send.Payload.Due)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClientFromRedisClient(e.rdb)
	if _, err := client.Enqueue(task); err != nil {
		t.Fatal(err)
	}

	s := e.waitEnded(t, send.ID, 5*time.Second)
	if s.State != "cancelled" || s.Group != group {
		t.Errorf("status %+v, want cancelled with %s", s, group)
	}
	if n := len(e.sandbox.Requests()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

func TestAKeyCancelledWithItsGroupIsFreeAgain(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	envelope := func(due time.Time) string {
		return `{"type":"mateo:send_message","key":"reminder-9","group":"contact:abc123","process_at":"` + due.Format(time.RFC3339Nano) +
			`","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi"}}`
	}
	first, err := e.producer.EnqueueJSON(ctx, []byte(envelope(time.Now().Add(time.Hour))))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := e.producer.CancelGroup(ctx, "contact:abc123"); err != nil || res.Cancelled != 1 {
		t.Fatalf("cancel: %+v, %v", res, err)
	}
	again, err := e.producer.EnqueueJSON(ctx, []byte(envelope(time.Now())))
	if err != nil || again.Duplicate || again.ID != first.ID {
		t.Fatalf("enqueued again: %+v, %v; want a new send under the same id %s", again, err, first.ID)
	}
	if s := e.waitState(t, again.ID, "completed", 5*time.Second); s.Group != "contact:abc123" {
		t.Errorf("status %+v, want its group", s)
	}
	if n := len(e.sandbox.Requests()); n != 1 {
		t.Errorf("%d requests, want the new send's", n)
	}
}

// refusedInGroup enqueues a send of group that the provider refuses, and
// returns its id once it is archived.
func (e *env) refusedInGroup(t *testing.T, group string) string {
	t.Helper()
	e.sandbox.Script(sandbox.Answer{Status: http.StatusUnprocessableEntity, Body: `{"message":"invalid channel"}`})
	refused := e.enqueue(t, inGroup(group, "mateo", "refused", time.Now()))
	e.waitState(t, refused, "archived", 5*time.Second)
	return refused
}

func TestAGroupCancelCountsTheSendsThatStarted(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	const group = "order:1234"
	refused := e.refusedInGroup(t, group)
	sent := e.enqueue(t, inGroup(group, "mateo", "sent", time.Now()))
	e.waitState(t, sent, "completed", 5*time.Second)
	later := e.enqueue(t, inGroup(group, "mateo", "later", time.Now().Add(time.Hour)))

	res, err := e.producer.CancelGroup(ctx, group)
	if err != nil || res != (producer.GroupCancel{Cancelled: 1, Started: 2}) {
		t.Fatalf("cancel: %+v, %v; want the later send cancelled, the two others started", res, err)
	}
	// Retrying the archive takes the refused send, never the cancelled
	// one; and the refused send, of a group cancelled since it joined, is
	// not made either: it ends cancelled.
	if n, err := e.producer.RetryAllArchived(ctx); err != nil || n != 1 {
		t.Fatalf("retry --all-archived: %d, %v; want the refused send", n, err)
	}
	for _, id := range []string{refused, later} {
		if s := e.waitEnded(t, id, 5*time.Second); s.State != "cancelled" || s.Group != group {
			t.Errorf("%s: %+v, want cancelled with its group", id, s)
		}
	}
	if n := len(e.sandbox.Requests()); n != 2 {
		t.Errorf("%d requests, want the refused one and the sent one", n)
	}
}

func TestARetriedSendOfACancelledGroupIsNotMadeOnceTheGroupLapsed(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	const group = "order:5678"
	refused := e.refusedInGroup(t, group)
	if res, err := e.producer.CancelGroup(ctx, group); err != nil || res != (producer.GroupCancel{Started: 1}) {
		t.Fatalf("cancel: %+v, %v; want the refused send counted as started", res, err)
	}

	// The group's record lapses, as it does RESULT_RETENTION after the
	// cancel, while the archived send is kept for ARCHIVE_RETENTION.
	for _, k := range []string{"punctual:group:{" + group + "}", "punctual:group:{" + group + "}:sends"} {
		if err := e.rdb.PExpire(ctx, k, time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Second)
	for n := int64(1); n > 0; {
		var err error
		if n, err = e.rdb.Exists(ctx, "punctual:group:{"+group+"}", "punctual:group:{"+group+"}:sends").Result(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the group's record did not lapse")
		}
	}

	if err := e.producer.Retry(ctx, refused); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if s := e.waitEnded(t, refused, 5*time.Second); s.State != "cancelled" || s.Group != group {
		t.Errorf("retried: %+v, want cancelled with its group", s)
	}
	if n := len(e.sandbox.Requests()); n != 1 {
		t.Errorf("%d requests, want only the refused one", n)
	}
}
