package producer_test

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/tasks"
)

// Three sends, plainly spelled, and the same three spelled otherwise: other
// field orders, white space, the default account given, \u escapes, times
// in other zones and precisions.
const (
	plainSends = `{"type":"mateo:send_message","process_at":"2030-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi Ana"}}
{"type":"mateo:send_message","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"bo@example.com"}],"text":"Hi Bo"}}
{"type":"mateo:send_message","account":"acme","process_at":"2030-11-22T09:30:00.5Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi Cy"}}
`
	respelledSends = `{"payload":{"text":"Hi Ana","to":[{"handle":"ana@example.com"}],"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"},"process_at":"2030-11-21T18:00:00+01:00","type":"mateo:send_message"}
{"type":"mateo:send_message","account":"default","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"h\u0061ndle":"bo\u0040example.com"}],"text":"\u0048i Bo"}}
{ "account": "acme", "type": "mateo:send_message", "process_at": "2030-11-22T04:30:00.500-05:00", "payload": {"text": "Hi Cy", "from": "3c90c3cc-0d44-4b50-8888-8dd25736052a"} }
`
)

func TestBatchRespelledEnqueuesNothingTwice(t *testing.T) {
	t.Parallel()
	conn := redistest.Start(t)
	p := producer.New(conn)
	defer p.Close()
	ctx := context.Background()

	first, err := p.Batch(ctx, strings.NewReader(plainSends), producer.BatchOptions{})
	if err != nil || first != (producer.BatchSummary{Lines: 3, Enqueued: 3}) {
		t.Fatalf("first run %+v, %v; want 3 enqueued", first, err)
	}
	sent := messageIDs(t, conn)
	second, err := p.Batch(ctx, strings.NewReader(respelledSends), producer.BatchOptions{})
	if err != nil || second != (producer.BatchSummary{Lines: 3, Duplicate: 3}) {
		t.Fatalf("re-spelled run %+v, %v; want 3 duplicates and nothing enqueued", second, err)
	}
	if got := messageIDs(t, conn); !maps.Equal(got, sent) {
		t.Errorf("tasks after the re-spelled run %v, want those of the first %v", got, sent)
	}

	// Enqueued on their own, the re-spelled sends get the same task ids and
	// the same Mateo message ids as the plain ones.
	other := redistest.Start(t)
	q := producer.New(other)
	defer q.Close()
	if sum, err := q.Batch(ctx, strings.NewReader(respelledSends), producer.BatchOptions{}); err != nil || sum.Enqueued != 3 {
		t.Fatalf("re-spelled run on its own %+v, %v; want 3 enqueued", sum, err)
	}
	if got := messageIDs(t, other); !maps.Equal(got, sent) {
		t.Errorf("re-spelled sends have task and message ids %v, want %v", got, sent)
	}
}

// messageIDs returns the Mateo message id of each task in the mateo queue,
// by task id; there must be three, each with its own message id.
func messageIDs(t *testing.T, conn asynq.RedisClientOpt) map[string]string {
	t.Helper()
	ins := asynq.NewInspector(conn)
	defer ins.Close()
	pending, err := ins.ListPendingTasks("mateo")
	if err != nil {
		t.Fatal(err)
	}
	scheduled, err := ins.ListScheduledTasks("mateo")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	messages := map[string]bool{}
	for _, info := range append(pending, scheduled...) {
		p, err := tasks.DecodePayload(info.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ ID string }
		if err := json.Unmarshal(p.Body, &body); err != nil || body.ID == "" {
			t.Fatalf("task %s: body %s has no message id (%v)", info.ID, p.Body, err)
		}
		ids[info.ID] = body.ID
		messages[body.ID] = true
	}
	if len(ids) != 3 || len(messages) != 3 {
		t.Fatalf("the mateo queue holds %d tasks with %d message ids, want 3 and 3: %v", len(ids), len(messages), ids)
	}
	return ids
}
