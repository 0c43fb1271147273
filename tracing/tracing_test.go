package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
)

// The OTEL_* variables are the process's: these tests set them, so they
// do not run in parallel.

func TestStartIsOffUnlessAnEndpointIsSet(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		on   bool
	}{
		{"no endpoint", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true},
		{"SDK disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			p, err := Start(context.Background(), "test", zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			if on := p.TracerProvider() != nil; on != c.on {
				t.Errorf("tracing on: %v, want %v", on, c.on)
			}
		})
	}
}

func TestStartNamesTheVariableItCannotHonour(t *testing.T) {
	for _, c := range []struct{ key, value string }{
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift"},
		{"OTEL_TRACES_EXPORTER", "zipkin"},
	} {
		t.Run(c.key, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
			t.Setenv(c.key, c.value)
			_, err := Start(context.Background(), "test", zap.NewNop())
			if err == nil || !strings.Contains(err.Error(), c.key) || !strings.Contains(err.Error(), c.value) {
				t.Errorf("error %v, want one naming %s and %q", err, c.key, c.value)
			}
		})
	}
}

func TestPropagateSendsTheSpanContextOfARequestOnly(t *testing.T) {
	t.Parallel()
	got := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got <- r.Header.Get("Traceparent") }))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: Propagate(nil)}
	send := func(ctx context.Context) *http.Request {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return req
	}

	send(context.Background())
	if tp := <-got; tp != "" {
		t.Errorf("a request with no span carried traceparent %q", tp)
	}
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "send")
	defer span.End()
	req := send(ctx)
	sc := span.SpanContext()
	if want, tp := "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01", <-got; tp != want {
		t.Errorf("traceparent %q, want %q", tp, want)
	}
	if len(req.Header) != 0 {
		t.Errorf("the caller's request was changed: %v", req.Header)
	}
}
