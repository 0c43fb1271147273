package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/tracing"
	"github.com/punctualhq/punctual/worker"
)

const (
	mateoToken = "test-mateo-token"
	acmeToken  = "test-mateo-acme-token"
	betaToken  = "test-mateo-beta-token"
	lcToken    = "test-lc-token"
)

type env struct {
	worker    *worker.Worker
	stop      func() // stops the worker and waits for Run to return
	rdb       redis.UniversalClient
	producer  *producer.Producer
	sandbox   *sandbox.Server
	inspector *asynq.Inspector
	logs      *observer.ObservedLogs
}

// setup runs a worker against a fresh redis-server and a sandbox provider
// whose Mateo enforces mateoLimit, if given. extra may name another Redis
// (REDIS_CLUSTER_ADDRS, REDIS_SENTINEL_ADDRS): the worker, the producer and
// the inspector then all use it.
func setup(t *testing.T, extra map[string]string, mateoLimit ...sandbox.Limit) *env {
	t.Helper()
	return setupWith(t, newSandbox(mateoLimit...), extra)
}

// newSandbox is the sandbox setup runs against: the tests' accounts, and
// Mateo enforcing mateoLimit, if given.
func newSandbox(mateoLimit ...sandbox.Limit) *sandbox.Server {
	cfg := sandbox.Config{
		Tokens: map[string]map[string]string{
			mateo.Name:         {mateoToken: "default", acmeToken: "acme", betaToken: "beta"},
			leadconnector.Name: {lcToken: "default"},
		},
	}
	if len(mateoLimit) > 0 {
		cfg.Limits = map[string]sandbox.Limit{mateo.Name: mateoLimit[0]}
	}
	return sandbox.New(cfg)
}

// setupWith runs a worker as setup does, against the sandbox sb, with opts.
func setupWith(t *testing.T, sb *sandbox.Server, extra map[string]string, opts ...worker.Option) *env {
	t.Helper()
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	environ := map[string]string{
		"MATEO_BASE_URL":         srv.URL + "/api/v1",
		"MATEO_TOKEN":            mateoToken,
		"MATEO_ACCOUNTS":         "acme=" + acmeToken + ",beta=" + betaToken,
		"LEADCONNECTOR_BASE_URL": srv.URL,
		"LEADCONNECTOR_TOKEN":    lcToken,
		"WORKER_CONCURRENCY":     "64", // the default: four loops take tasks
		"SHUTDOWN_TIMEOUT":       "2s",
		"HTTP_ADDR":              "127.0.0.1:0",
		"RATE_LIMITS":            "off",
	}
	for k, v := range extra {
		environ[k] = v
	}
	if environ["REDIS_URL"] == "" && environ["REDIS_CLUSTER_ADDRS"] == "" && environ["REDIS_SENTINEL_ADDRS"] == "" {
		environ["REDIS_URL"] = "redis://" + redistest.Start(t).Addr + "/0"
	}
	wcfg, err := config.LoadFrom(environ)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := wcfg.RedisConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	log := zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, core) })))
	// Requests carry the trace context as the worker binary's do when
	// tracing is on; with no span, none.
	wc, err := worker.ConfigFrom(wcfg, senders.WithRoundTripper(tracing.Propagate))
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(wc, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	p := producer.New(conn, producer.WithMaxRetry(3))
	t.Cleanup(func() { _ = p.Close() })
	ins := asynq.NewInspector(conn)
	t.Cleanup(func() { _ = ins.Close() })
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rdb.Close() })
	return &env{worker: w, stop: stop, rdb: rdb, producer: p, sandbox: sb, inspector: ins, logs: logs}
}

// enqueue submits a JSON envelope and returns its task id.
func (e *env) enqueue(t *testing.T, envelope string) string {
	t.Helper()
	res, err := e.producer.EnqueueJSON(context.Background(), []byte(envelope))
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return res.ID
}

// waitState polls the task until it reaches state, and returns its status.
func (e *env) waitState(t *testing.T, id, state string, within time.Duration) *producer.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, err := e.producer.Status(context.Background(), id)
		if err == nil && string(s.State) == state {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s not %s within %s: %+v (err %v)", id, state, within, s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDone waits until every task is completed or archived.
func (e *env) waitDone(t *testing.T, ids []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, id := range ids {
		for {
			s, err := e.producer.Status(context.Background(), id)
			if err == nil && (s.State == "completed" || s.State == "archived") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s not done within %s: %+v (err %v)", id, within, s, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// enqueueEach enqueues envelope(i), i < n, with p and returns the task ids.
func enqueueEach(t *testing.T, p *producer.Producer, n int, envelope func(i int) string) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		res, err := p.EnqueueJSON(context.Background(), []byte(envelope(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = res.ID
	}
	return ids
}

// completedFirstTry waits until every task is done, and checks that each
// completed with no attempt spent.
func (e *env) completedFirstTry(t *testing.T, ids []string, within time.Duration) {
	t.Helper()
	e.waitDone(t, ids, within)
	for _, id := range ids {
		if s := e.waitState(t, id, "completed", time.Second); s.Retried != 0 {
			t.Errorf("%s: %d attempts spent, last error %q", id, s.Retried, s.LastError)
		}
	}
}

// archivedAfter waits until the task is archived, and checks that its
// last error holds each of reasons and that the sandbox had requests
// requests.
func (e *env) archivedAfter(t *testing.T, id string, requests int, reasons ...string) {
	t.Helper()
	s := e.waitState(t, id, "archived", 5*time.Second)
	for _, reason := range reasons {
		if !strings.Contains(s.LastError, reason) {
			t.Errorf("last error %q, want %q in it", s.LastError, reason)
		}
	}
	if n := len(e.sandbox.Requests()); n != requests {
		t.Fatalf("%d requests, want %d", n, requests)
	}
}

// requests waits for n requests at the sandbox and returns them.
func (e *env) requests(t *testing.T, n int, within time.Duration) []sandbox.Request {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		reqs := e.sandbox.Requests()
		if len(reqs) >= n {
			return reqs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests within %s, want %d", len(reqs), within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body:\n got %s\nwant %s", got, want)
	}
}

func TestScheduledSendArrivesExactlyAndNotEarly(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	due := time.Now().Add(1500 * time.Millisecond).Truncate(time.Millisecond)
	id := e.enqueue(t, `{"type":"mateo:send_message","account":"acme","payload":{
		"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a",
		"id":"7d3f2a10-5b6c-4d7e-8f90-a1b2c3d4e5f6",
		"to":[{"handle":"ana@example.com","full_name":null,"x_new_field":1}],
		"text":"Hi","subject":null,"future_field":{"a":[1,2]},
		"send_after":"`+due.Format(time.RFC3339Nano)+`"}}`)

	req := e.requests(t, 1, 5*time.Second)[0]
	if req.At.Before(due) {
		t.Errorf("request arrived at %s, %s before its due time", req.At.Format(time.RFC3339Nano), due.Sub(req.At))
	}
	if late := req.At.Sub(due); late > time.Second {
		t.Errorf("request arrived %s late", late)
	}
	if req.Method != http.MethodPost || req.Path != "/api/v1/send_message" || req.Query != "" {
		t.Errorf("request %s %s?%s, want POST /api/v1/send_message", req.Method, req.Path, req.Query)
	}
	for name, want := range map[string]string{
		"Authorization": "Bearer " + acmeToken,
		"Content-Type":  "application/json",
		"Accept":        "application/json",
	} {
		if got := req.Header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if ua := req.Header.Get("User-Agent"); !strings.HasPrefix(ua, "punctual/") {
		t.Errorf("User-Agent %q does not name the project", ua)
	}
	// send_after is gone: the worker owns the schedule; nulls and unknown fields are kept.
	jsonEqual(t, req.Body, `{
		"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a",
		"id":"7d3f2a10-5b6c-4d7e-8f90-a1b2c3d4e5f6",
		"to":[{"handle":"ana@example.com","full_name":null,"x_new_field":1}],
		"text":"Hi","subject":null,"future_field":{"a":[1,2]}}`)

	s := e.waitState(t, id, "completed", 2*time.Second)
	if s.Result == nil || s.Result.Status != 200 || s.Result.Provider != "mateo" || s.Result.Duplicate {
		t.Fatalf("result %+v, want a mateo 200", s.Result)
	}
	var ids struct {
		MessageID string `json:"message_id"`
	}
	if err := json.Unmarshal(s.Result.Response, &ids); err != nil || ids.MessageID != "7d3f2a10-5b6c-4d7e-8f90-a1b2c3d4e5f6" {
		t.Errorf("stored response names message %q (%v), want the sent id", ids.MessageID, err)
	}
}

func TestNoSendStartsEarly(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"WORKER_CONCURRENCY": "16"})
	const n = 300
	start := time.Now().Add(time.Second)
	dues := map[string]time.Time{}
	for i := range n {
		due := start.Add(time.Duration(rand.IntN(2500)) * time.Millisecond).Truncate(time.Millisecond)
		text := fmt.Sprintf("message %d", i)
		dues[text] = due
		e.enqueue(t, `{"type":"mateo:send_message","process_at":"`+due.Format(time.RFC3339Nano)+`","payload":{
			"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"`+text+`"}}`)
	}
	var late []time.Duration
	for _, req := range e.requests(t, n, 10*time.Second) {
		var body struct{ Text string }
		if err := json.Unmarshal(req.Body, &body); err != nil {
			t.Fatal(err)
		}
		due := dues[body.Text]
		if req.At.Before(due) {
			t.Errorf("%s arrived %s early", body.Text, due.Sub(req.At))
		}
		late = append(late, req.At.Sub(due))
	}
	slices.Sort(late)
	t.Logf("%d sends: lateness median %s, p99 %s, max %s", n, late[n/2], late[n*99/100], late[n-1])
}

func TestEachOperationSendsTheDocumentedRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, envelope       string
		method, path, query  string
		token, version, body string
	}{
		{
			name: "mateo send_message gets a message id",
			envelope: `{"type":"mateo:send_message","key":"k-1","payload":{
				"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":["+4915112345678"],"country_codes":["DE"]}],
				"text":"Hi","actions":[{"text":"Yes","type":"quick_reply","data":null}]}}`,
			method: "POST", path: "/api/v1/send_message", token: mateoToken,
			body: `{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":["+4915112345678"],"country_codes":["DE"]}],
				"text":"Hi","actions":[{"text":"Yes","type":"quick_reply","data":null}],"id":"` + keyMessageID(t, "k-1") + `"}`,
		},
		{
			name: "mateo update_conversation",
			envelope: `{"type":"mateo:update_conversation","payload":{"id":"9b2f6c3e-1d4a-4e8b-9c7d-2a5f8e1b3c6d",
				"inbox_id":"3c90c3cc-0d44-4b50-8888-8dd25736052a","assignee_id":null,"status":"closed"}}`,
			method: "PATCH", path: "/api/v1/conversation", query: "id=eq.9b2f6c3e-1d4a-4e8b-9c7d-2a5f8e1b3c6d", token: mateoToken,
			body: `{"inbox_id":"3c90c3cc-0d44-4b50-8888-8dd25736052a","assignee_id":null,"status":"closed"}`,
		},
		{
			name: "leadconnector send_message",
			envelope: `{"type":"leadconnector:send_message","payload":{"type":"Email","contactId":"abc123def456",
				"emailTo":"ana@example.com","subject":"Hello","html":"<p>Hi</p>","emailCc":["cc@example.com"],
				"scheduledTimestamp":` + unixNow() + `}}`,
			method: "POST", path: "/conversations/messages", token: lcToken, version: "2021-04-15",
			body: `{"type":"Email","contactId":"abc123def456","emailTo":"ana@example.com","subject":"Hello",
				"html":"<p>Hi</p>","emailCc":["cc@example.com"]}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, nil)
			id := e.enqueue(t, c.envelope)
			req := e.requests(t, 1, 5*time.Second)[0]
			if req.Method != c.method || req.Path != c.path || req.Query != c.query {
				t.Errorf("request %s %s?%s, want %s %s?%s", req.Method, req.Path, req.Query, c.method, c.path, c.query)
			}
			if got := req.Header.Get("Authorization"); got != "Bearer "+c.token {
				t.Errorf("Authorization %q", got)
			}
			if got := req.Header.Get("Version"); got != c.version {
				t.Errorf("Version header %q, want %q", got, c.version)
			}
			jsonEqual(t, req.Body, c.body)
			s := e.waitState(t, id, "completed", 2*time.Second)
			if s.Result == nil || s.Result.Status != 200 {
				t.Errorf("result %+v", s.Result)
			}
		})
	}
}

func TestLogsNameTheTaskAndNeverTheTokenOrTheBody(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	const body = "BODY-TEXT-4711"
	e.sandbox.Script(sandbox.Answer{Status: http.StatusServiceUnavailable, Body: `{"message":"down"}`})
	id := e.enqueue(t, `{"type":"mateo:send_message","account":"acme","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"`+body+`"}}`)
	e.waitState(t, id, "completed", 5*time.Second)

	var taskLines int
	for _, entry := range e.logs.All() {
		fields := entry.ContextMap()
		line, _ := json.Marshal(fields)
		if text := entry.Message + string(line); strings.Contains(text, acmeToken) || strings.Contains(text, body) {
			t.Errorf("log line reveals a secret or the body: %s %s", entry.Message, line)
		}
		if fields["task_id"] != id {
			continue
		}
		taskLines++
		for _, key := range []string{"type", "account", "attempt"} {
			if _, ok := fields[key]; !ok {
				t.Errorf("log line %q about the task lacks %s: %s", entry.Message, key, line)
			}
		}
	}
	if taskLines < 2 { // the failed attempt and the send
		t.Errorf("%d log lines about the task, want the failure and the send", taskLines)
	}
}

func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	addr := setup(t, nil).worker.HealthAddr()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, "http://"+addr+path, "", ""); code != http.StatusOK || body != "ok\n" {
			t.Errorf("GET %s: %d %q, want 200 ok", path, code, body)
		}
	}
}

func keyMessageID(t *testing.T, key string) string {
	t.Helper()
	s, err := tasks.Prepare(&tasks.Envelope{Type: mateo.TypeSendMessage, Key: key,
		Payload: json.RawMessage(`{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}`)}, tasks.Options{Providers: builtin.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Payload
	var body struct{ ID string }
	if err := json.Unmarshal(p.Body, &body); err != nil {
		t.Fatal(err)
	}
	return body.ID
}

func unixNow() string {
	b, _ := json.Marshal(time.Now().Unix())
	return string(b)
}

// TestAShutdownTimeoutShorterThanARequestIsCalledOut: a stop past
// SHUTDOWN_TIMEOUT cuts a request off, and its send goes again; a worker
// whose bound is not longer than a provider's request timeout says so.
func TestAShutdownTimeoutShorterThanARequestIsCalledOut(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		timeout string
		warned  []string
	}{
		{"2s", []string{"leadconnector", "mateo"}}, // 15 s and 5 s requests
		{"10s", []string{"leadconnector"}},
		{"20s", nil},
	} {
		e := setup(t, map[string]string{"SHUTDOWN_TIMEOUT": c.timeout})
		var warned []string
		for _, l := range e.logs.FilterMessageSnippet("SHUTDOWN_TIMEOUT is not longer").All() {
			warned = append(warned, l.ContextMap()["provider"].(string))
		}
		slices.Sort(warned)
		if !slices.Equal(warned, c.warned) {
			t.Errorf("SHUTDOWN_TIMEOUT=%s: warned for %v, want %v", c.timeout, warned, c.warned)
		}
	}
}
