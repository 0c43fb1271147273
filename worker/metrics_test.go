package worker_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/sandbox"
)

func TestMetricsCountRealSends(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	addr := e.worker.HealthAddr()
	e.sandbox.Script(
		sandbox.Answer{Status: http.StatusBadRequest, Body: `{"code":"400","message":"bad"}`},
		sandbox.Answer{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}, Body: `{}`},
	)
	var ids []string
	for range 3 {
		ids = append(ids, e.enqueue(t, plainMessage))
	}
	e.waitDone(t, ids, 6*time.Second) // two complete, one is archived

	_, body := get(t, "http://"+addr+"/metrics", "", "")
	for _, want := range []string{
		`punctual_sends_total{account="default",operation="send_message",outcome="sent",provider="mateo"} 2`,
		`punctual_sends_total{account="default",operation="send_message",outcome="failed",provider="mateo"} 1`,
		`punctual_sends_total{account="default",operation="send_message",outcome="rate_limited",provider="mateo"} 1`,
		`punctual_waits_total{account="default",provider="mateo",reason="rate_limit"} 1`,
		`punctual_provider_request_seconds_count{operation="send_message",provider="mateo",status="2xx"} 2`,
		`punctual_provider_request_seconds_count{operation="send_message",provider="mateo",status="4xx"} 2`,
		// asynq keeps the archived send; the two completed are its
		// deleted tasks, kept as punctual's records.
		`asynq_queue_size{queue="mateo"} 1`,
		`asynq_tasks_enqueued_total{queue="mateo",state="archived"} 1`,
		`asynq_tasks_enqueued_total{queue="mateo",state="completed"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestMetricsNameOnlyConfiguredAccounts(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"NO_ACCOUNT_GRACE": "0s"})
	ids := []string{
		e.enqueue(t, `{"type":"mateo:send_message","account":"acme","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}}`),
		e.enqueue(t, `{"type":"mateo:send_message","account":"stranger","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}}`),
		e.enqueue(t, `{"type":"leadconnector:send_message","account":"acme","payload":{"type":"SMS","contactId":"c1"}}`),
	}
	e.waitDone(t, ids, 6*time.Second)

	_, body := get(t, "http://"+e.worker.HealthAddr()+"/metrics", "", "")
	for _, want := range []string{
		`punctual_sends_total{account="acme",operation="send_message",outcome="sent",provider="mateo"} 1`,
		`punctual_sends_total{account="unknown",operation="send_message",outcome="failed",provider="mateo"} 1`,
		`punctual_sends_total{account="unknown",operation="send_message",outcome="failed",provider="leadconnector"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, `account="stranger"`) || strings.Contains(line, `account="acme",operation="send_message",outcome="failed",provider="leadconnector"`) {
			t.Errorf("/metrics names an account that is not configured: %s", line)
		}
	}
}
