package worker_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"punctual/sandbox"
)

func TestMetricsCountRealSends(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	e := setup(t, map[string]string{"HTTP_ADDR": addr})
	e.sandbox.Script(
		sandbox.Answer{Status: http.StatusBadRequest, Body: `{"code":"400","message":"bad"}`},
		sandbox.Answer{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}, Body: `{}`},
	)
	var ids []string
	for range 3 {
		ids = append(ids, e.enqueue(t, plainMessage))
	}
	// Two sends complete, one is archived.
	deadline := time.Now().Add(6 * time.Second)
	for _, id := range ids {
		for {
			s, err := e.producer.Status(context.Background(), id)
			if err == nil && (s.State == "completed" || s.State == "archived") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s not done: %+v, %v", id, s, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, want := range []string{
		`punctual_sends_total{account="default",operation="send_message",outcome="sent",provider="mateo"} 2`,
		`punctual_sends_total{account="default",operation="send_message",outcome="failed",provider="mateo"} 1`,
		`punctual_sends_total{account="default",operation="send_message",outcome="rate_limited",provider="mateo"} 1`,
		`punctual_waits_total{account="default",provider="mateo",reason="rate_limit"} 1`,
		`punctual_provider_request_seconds_count{operation="send_message",provider="mateo",status="2xx"} 2`,
		`punctual_provider_request_seconds_count{operation="send_message",provider="mateo",status="4xx"} 2`,
		`asynq_queue_size{queue="mateo"} 3`,
		`asynq_tasks_enqueued_total{queue="mateo",state="archived"} 1`,
		`asynq_tasks_enqueued_total{queue="mateo",state="completed"} 2`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
