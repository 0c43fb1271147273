package worker_test

import (
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/worker"
)

// setupTraced is setup with a worker whose spans end in the returned exporter.
func setupTraced(t *testing.T, extra map[string]string) (*env, *tracetest.InMemoryExporter) {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	return setupWith(t, newSandbox(), extra, worker.WithTracerProvider(tp)), spans
}

// messageDue is a Mateo message from account acme due at due.
func messageDue(id string, due time.Time) string {
	return `{"type":"mateo:send_message","account":"acme","payload":{
		"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","id":"` + id + `","text":"Hi",
		"send_after":"` + due.Format(time.RFC3339Nano) + `"}}`
}

// sendTraced enqueues a message from acme, due shortly, for each message
// id, waits until each completed, and returns their task ids, their due
// time and the n spans the sends made.
func sendTraced(t *testing.T, e *env, spans *tracetest.InMemoryExporter, n int, messageIDs ...string) ([]string, time.Time, tracetest.SpanStubs) {
	t.Helper()
	due := time.Now().Add(300 * time.Millisecond).Truncate(time.Millisecond)
	ids := make([]string, len(messageIDs))
	for i, m := range messageIDs {
		ids[i] = e.enqueue(t, messageDue(m, due))
	}
	for _, id := range ids {
		e.waitState(t, id, "completed", 10*time.Second)
	}
	// A span ends right after its answer: the last may come just after its task completes.
	for deadline := time.Now().Add(time.Second); len(spans.GetSpans()) < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	got := spans.GetSpans()
	if len(got) != n {
		t.Fatalf("%d spans, want %d", len(got), n)
	}
	return ids, due, got
}

// attrs returns a span's attributes by name.
func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// checkSpan checks the attributes every send's span carries, and returns
// its lateness.
func checkSpan(t *testing.T, s tracetest.SpanStub, taskID string, attempt int, due time.Time, cause string) time.Duration {
	t.Helper()
	a := attrs(s)
	if s.Name != "mateo:send_message" || s.SpanKind != trace.SpanKindClient {
		t.Errorf("span %q of kind %s, want a client span mateo:send_message", s.Name, s.SpanKind)
	}
	for key, want := range map[attribute.Key]string{
		"punctual.task.id": taskID, "punctual.provider": "mateo", "punctual.operation": "send_message",
		"punctual.account": "acme", "punctual.due": due.Format(time.RFC3339Nano), "punctual.late_cause": cause,
	} {
		if got := a[key].AsString(); got != want {
			t.Errorf("attempt %d: %s = %q, want %q", attempt, key, got, want)
		}
	}
	if got := a["punctual.attempt"].AsInt64(); got != int64(attempt) {
		t.Errorf("punctual.attempt = %d, want %d", got, attempt)
	}
	late := time.Duration(a["punctual.lateness_seconds"].AsFloat64() * float64(time.Second))
	if want := s.StartTime.Sub(due); late < 0 || late-want > time.Microsecond || want-late > time.Microsecond {
		t.Errorf("attempt %d: lateness %s, want the span's start minus its due time, %s", attempt, late, want)
	}
	return late
}

// checkAnswer checks the outcome a span records.
func checkAnswer(t *testing.T, s tracetest.SpanStub, status int, outcome, errorType string) {
	t.Helper()
	a := attrs(s)
	if got := a["http.response.status_code"].AsInt64(); got != int64(status) {
		t.Errorf("http.response.status_code = %d, want %d", got, status)
	}
	if got := a["punctual.outcome"].AsString(); got != outcome {
		t.Errorf("punctual.outcome = %q, want %q", got, outcome)
	}
	if got := a["error.type"].AsString(); got != errorType {
		t.Errorf("error.type = %q, want %q", got, errorType)
	}
	if failed := s.Status.Code == codes.Error; failed != (errorType != "") {
		t.Errorf("span status %v with error.type %q", s.Status, errorType)
	}
}

func TestASentSendIsOneSpanWhoseContextTheProviderGets(t *testing.T) {
	t.Parallel()
	e, spans := setupTraced(t, nil)
	ids, due, got := sendTraced(t, e, spans, 1, "7d3f2a10-5b6c-4d7e-8f90-a1b2c3d4e5f6")
	if late := checkSpan(t, got[0], ids[0], 1, due, "on_time"); late > time.Second {
		t.Errorf("lateness %s for a send nothing held back", late)
	}
	checkAnswer(t, got[0], http.StatusOK, "sent", "")

	reqs := e.sandbox.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	sc := got[0].SpanContext
	want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
	if tp := reqs[0].Header.Get("Traceparent"); tp != want {
		t.Errorf("traceparent %q, want the span's %q", tp, want)
	}
}

func TestARetriedSendIsASpanPerTry(t *testing.T) {
	t.Parallel()
	e, spans := setupTraced(t, map[string]string{"RETRY_BACKOFF_BASE": "200ms", "RETRY_BACKOFF_MAX": "1s"})
	e.sandbox.Script(sandbox.Answer{Status: http.StatusServiceUnavailable, Body: `{"message":"down"}`})
	ids, due, got := sendTraced(t, e, spans, 2, "0b7e3f52-9a61-4c1e-bd0a-6f2c1e9d4a83")
	id := ids[0]
	checkSpan(t, got[0], id, 1, due, "on_time")
	checkAnswer(t, got[0], http.StatusServiceUnavailable, "retry", "503")
	if late := checkSpan(t, got[1], id, 2, due, "retry"); late < 200*time.Millisecond {
		t.Errorf("the retry went %s after its due time, within the backoff", late)
	}
	checkAnswer(t, got[1], http.StatusOK, "sent", "")
	if got[0].SpanContext.TraceID() == got[1].SpanContext.TraceID() {
		t.Error("the two tries share a trace: each try is its own")
	}
}

func TestASendTheLimitDelaysSaysSo(t *testing.T) {
	t.Parallel()
	e, spans := setupTraced(t, map[string]string{"RATE_LIMITS": "mateo=1/s"})
	ids, due, got := sendTraced(t, e, spans, 2, "5a0c6e1d-2b7f-4f3a-9c8e-1d4b6a2f7e90", "c2e9b4a7-6d1f-4b8c-a3e5-7f0d2c9b1a64")
	first, second := ids[0], ids[1]
	byTask := map[string]tracetest.SpanStub{}
	for _, s := range got {
		byTask[attrs(s)["punctual.task.id"].AsString()] = s
	}
	if len(byTask) != 2 || byTask[first].Name == "" || byTask[second].Name == "" {
		t.Fatalf("spans of tasks %v, want one of %s and one of %s", byTask, first, second)
	}
	// Either may book the first slot; the other waits its second.
	onTime, delayed := byTask[first], byTask[second]
	if attrs(onTime)["punctual.late_cause"].AsString() != "on_time" {
		onTime, delayed = delayed, onTime
	}
	checkSpan(t, onTime, attrs(onTime)["punctual.task.id"].AsString(), 1, due, "on_time")
	if late := checkSpan(t, delayed, attrs(delayed)["punctual.task.id"].AsString(), 1, due, "rate_limit"); late < 900*time.Millisecond {
		t.Errorf("lateness %s, want the second slot's, about 1s", late)
	}
	checkAnswer(t, onTime, http.StatusOK, "sent", "")
	checkAnswer(t, delayed, http.StatusOK, "sent", "")
}
