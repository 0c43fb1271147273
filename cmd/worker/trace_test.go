package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP collector that keeps the spans it receives
// and the service that sent them.
type otlpReceiver struct {
	t        *testing.T
	mu       sync.Mutex
	spans    []*tracepb.Span
	services map[string]bool
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		o.t.Errorf("%s %s (%s), want POST /v1/traces of application/x-protobuf", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if err != nil {
		o.t.Errorf("export: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				o.services[kv.GetValue().GetStringValue()] = true
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			o.spans = append(o.spans, ss.GetSpans()...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// TestTheWorkerExportsItsSpansOverOTLPBeforeItExits runs the worker
// binary with OTEL_EXPORTER_OTLP_ENDPOINT set and a batch delay longer than
// the test: the spans of its sends arrive because stopping flushes them.
func TestTheWorkerExportsItsSpansOverOTLPBeforeItExits(t *testing.T) {
	t.Parallel()
	recv := &otlpReceiver{t: t, services: map[string]bool{}}
	collector := httptest.NewServer(recv)
	t.Cleanup(collector.Close)
	const perProvider = 3
	r := newBusyRun(t, perProvider, "OTEL_EXPORTER_OTLP_ENDPOINT="+collector.URL, "OTEL_BSP_SCHEDULE_DELAY=600000")
	cmd := r.start()
	r.waitRequests(2 * perProvider)
	r.check()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the worker did not stop within 15s of SIGTERM")
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	if !recv.services["punctual-worker"] {
		t.Errorf("services %v, want punctual-worker", recv.services)
	}
	spans := map[string]*tracepb.Span{} // by trace id
	types := map[string]int{}
	for _, s := range recv.spans {
		spans[hex.EncodeToString(s.GetTraceId())] = s
		types[s.GetName()]++
	}
	if types["mateo:send_message"] != perProvider || types["leadconnector:send_message"] != perProvider || len(recv.spans) != 2*perProvider {
		t.Errorf("spans by name %v, want %d of each send type and no other", types, perProvider)
	}
	for _, req := range r.sb.Requests() {
		tp := req.Header.Get("Traceparent")
		if len(tp) != 55 {
			t.Errorf("%s request with traceparent %q", req.Provider, tp)
			continue
		}
		s := spans[tp[3:35]]
		if s == nil || hex.EncodeToString(s.GetSpanId()) != tp[36:52] {
			t.Errorf("%s request's traceparent %q names no exported span", req.Provider, tp)
		}
	}
}
