package providers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/internal/asynqadapter"
	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/sandbox/fake"
	"github.com/punctualhq/punctual/send"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/worker"
)

// pager is a third provider, made up here: POST /pages with {"to","text"},
// its due time in "at" (Unix seconds), a 409 for a page it already has.
var pager = providers.Operation{
	Type: "pager:page",
	Schema: jsonvalue.Object{Required: []string{"to", "text"}, Properties: map[string]jsonvalue.Schema{
		"to": jsonvalue.String{}, "text": jsonvalue.String{}, "at": jsonvalue.Number{},
	}},
	Prepare: func(d *providers.Draft) (time.Time, error) {
		n, ok := d.Body["at"].(json.Number)
		if !ok {
			return time.Time{}, nil
		}
		delete(d.Body, "at")
		secs, err := n.Int64()
		return time.Unix(secs, 0), err
	},
	Send: func(ctx context.Context, t *senders.Transport, token string, body []byte) (*senders.Response[senders.Undecoded], error) {
		return senders.Call[senders.Undecoded](ctx, t, "page", http.MethodPost, "/pages", nil, token, body)
	},
	AnswerIDs: func(answer []byte) map[string]string {
		var a struct{ Page string }
		_ = json.Unmarshal(answer, &a)
		return providers.IDs("page", a.Page)
	},
	Duplicate: func(e *senders.APIError) bool { return e.StatusCode == http.StatusConflict },
}

// pagerFake is the pager's half of the sandbox, under /pager: it takes a
// page with a User-Agent, answers 201 with a fresh page id, or 409 for a
// page (to and text) it already has, errors as {"error"}.
var pagerFake = fake.Provider{
	Name: "pager",
	Path: "/pager",
	Handler: func() http.Handler {
		var mu sync.Mutex
		pages := map[string]bool{}
		mux := http.NewServeMux()
		mux.HandleFunc("POST /pages", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if bad := fake.Validate(pager.Schema, body); bad != nil {
				fake.WriteJSON(w, bad.Status, pagerError(*bad))
				return
			}
			mu.Lock()
			seen := pages[string(body)]
			pages[string(body)] = true
			n := len(pages)
			mu.Unlock()
			if seen {
				fake.WriteJSON(w, http.StatusConflict, pagerError(fake.Refusal{Status: http.StatusConflict, Message: "page exists"}))
				return
			}
			fake.WriteJSON(w, http.StatusCreated, map[string]string{"page": fmt.Sprintf("P-%d", n)})
		})
		return mux
	},
	ErrorBody: pagerError,
	Check: func(r *http.Request) *fake.Refusal {
		if r.Header.Get("User-Agent") == "" {
			return &fake.Refusal{Status: http.StatusBadRequest, Message: "who is paging?"}
		}
		return nil
	},
}

func pagerError(r fake.Refusal) any { return map[string]string{"error": r.Message} }

// withPager is the built-in providers and the pager: one line.
func withPager() providers.Registry {
	return append(builtin.Registry(), providers.Provider{Name: "pager", Operations: []providers.Operation{pager}})
}

// servePager adds the pager's fake to the sandboxes made from then on,
// once: the sandbox's list of fakes is the process's.
var servePager = sync.OnceFunc(func() { sandbox.Register(pagerFake) })

type received struct {
	method, path, auth, contentType, body string
}

type tokens map[string]string

func (t tokens) Token(_ context.Context, provider, account string) (string, error) {
	if tok, ok := t[provider+"/"+account]; ok {
		return tok, nil
	}
	return "", send.ErrNoAccount
}

func (tokens) Refused(context.Context, string, string, string) bool { return false }
func (tokens) Rejected(context.Context, string, string, string)     {}

// TestANewOperationIsSentEndToEnd lists an operation from this file alone
// in a registry and follows a send of it from the producer, through the worker's
// handler, to the request its provider receives and the task's result.
func TestANewOperationIsSentEndToEnd(t *testing.T) {
	ctx := context.Background()
	got := make(chan received, 4)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- received{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(body)}
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(string(body), "again") {
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"error":"page exists"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"page":"P-1"}`)
	}))
	defer api.Close()

	conn := redistest.Start(t)
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	reg := withPager()
	p := producer.NewFromClient(rdb, producer.WithProviders(reg))

	if _, err := p.EnqueueJSON(ctx, []byte(`{"type":"pager:page","payload":{"to":"+15550100"}}`)); err == nil || !strings.Contains(err.Error(), "payload.text: required") {
		t.Fatalf("a page without text: %v, want payload.text: required", err)
	}
	at := strconv.FormatInt(time.Now().Unix(), 10)
	first, err := p.EnqueueJSON(ctx, []byte(`{"type":"pager:page","account":"ops","key":"k1","payload":{"to":"+15550100","text":"wake up","at":`+at+`}}`))
	if err != nil {
		t.Fatal(err)
	}
	if first.Queue != "pager" {
		t.Errorf("queue = %q, want the provider's, pager", first.Queue)
	}
	again, err := p.EnqueueJSON(ctx, []byte(`{"type":"pager:page","account":"ops","key":"k2","payload":{"to":"+15550100","text":"again"}}`))
	if err != nil {
		t.Fatal(err)
	}

	transports := map[string]*senders.Transport{}
	for _, name := range reg.Names() {
		tr, err := senders.NewTransport(name, api.URL, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		transports[name] = tr
	}
	h := &send.Handler{Providers: reg, Transports: transports, Tokens: tokens{"pager/ops": "pager-secret"}, Policy: senders.DefaultPolicy(),
		Logger: zaptest.NewLogger(t), Marks: state.Store{Client: rdb}, Retention: time.Hour}
	mux := asynq.NewServeMux()
	if err := send.Register(mux, h); err != nil {
		t.Fatal(err)
	}
	// The send's record is kept as the worker keeps it.
	keep := asynqadapter.ConnOpt{RedisConnOpt: conn, Options: asynqadapter.Options{
		WriteResult: func(ctx context.Context, pipe redis.Pipeliner, taskID string, completion []byte) redis.Cmder {
			return state.WriteCompletion(ctx, pipe, taskID, completion, time.Hour)
		},
	}}
	srv := asynq.NewServer(keep, asynq.Config{Queues: map[string]int{"pager": 1}, IsFailure: send.IsFailure, TaskCheckInterval: 50 * time.Millisecond})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	bodies := map[string]bool{}
	for range 2 {
		select {
		case r := <-got:
			if r.method != http.MethodPost || r.path != "/pages" || r.auth != "Bearer pager-secret" || r.contentType != "application/json" {
				t.Errorf("request = %s %s, Authorization %q, Content-Type %q", r.method, r.path, r.auth, r.contentType)
			}
			bodies[r.body] = true
		case <-time.After(10 * time.Second):
			t.Fatal("the provider got no request")
		}
	}
	// The due time is out of the body, the rest as given.
	for _, want := range []string{`{"text":"wake up","to":"+15550100"}`, `{"text":"again","to":"+15550100"}`} {
		if !bodies[want] {
			t.Errorf("bodies %v, want %s", bodies, want)
		}
	}

	for _, c := range []struct {
		id, response string
		status       int
		duplicate    bool
	}{{first.ID, `{"page":"P-1"}`, 201, false}, {again.ID, ``, 409, true}} {
		r := waitState(t, p, c.id, "completed").Result
		if r == nil || r.Provider != "pager" || r.Status != c.status || r.Duplicate != c.duplicate || string(r.Response) != c.response {
			t.Errorf("result = %+v, want pager, %d, duplicate %v, %s", r, c.status, c.duplicate, c.response)
		}
	}
}

// waitState polls the task until it reaches state, and returns its status.
func waitState(t *testing.T, p *producer.Producer, id, state string) *producer.Status {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s, err := p.Status(context.Background(), id)
		if err == nil && string(s.State) == state {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: %+v, %v; want %s", id, s, err, state)
		}
	}
}

// TestANewProviderIsServedBySandboxAndSentByAWorker follows sends of the
// pager, its operation and its fake both declared in this file alone,
// from the producer through a worker built with worker.New to the sandbox,
// which serves the pager's fake with the token checks every fake gets.
func TestANewProviderIsServedBySandboxAndSentByAWorker(t *testing.T) {
	servePager()
	reg := withPager()
	sb := sandbox.New(sandbox.Config{Tokens: map[string]map[string]string{"pager": {"pager-secret": "ops"}}})
	srv := httptest.NewServer(sb)
	defer srv.Close()

	transports := map[string]*senders.Transport{}
	for _, f := range sandbox.Fakes() {
		tr, err := senders.NewTransport(f.Name, srv.URL+f.Path, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		transports[f.Name] = tr
	}
	conn := redistest.Start(t)
	w, err := worker.New(worker.Config{
		Redis:       conn,
		Providers:   reg,
		Transports:  transports,
		Credentials: credentials.Config{Static: map[string]map[string]string{"pager": {"ops": "pager-secret", "stale": "revoked"}}},
		Policy:      senders.DefaultPolicy(),
		Concurrency: 2, Queues: map[string]int{"pager": 1},
		Backoff:          send.Backoff{Base: time.Second, Max: time.Second},
		ArchiveRetention: time.Hour, ResultRetention: time.Hour, ShutdownTimeout: 2 * time.Second, HTTPAddr: "127.0.0.1:0",
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	}()
	p := producer.New(conn, producer.WithProviders(reg))
	defer p.Close()

	send := func(account string) string {
		t.Helper()
		res, err := p.EnqueueJSON(ctx, []byte(`{"type":"pager:page","account":"`+account+`","payload":{"to":"+15550100","text":"wake up","at":1}}`))
		if err != nil {
			t.Fatal(err)
		}
		return res.ID
	}
	// The same page twice, one after the other: sent, then a duplicate.
	for _, want := range []struct {
		status    int
		duplicate bool
		page      string
	}{{http.StatusCreated, false, "P-1"}, {http.StatusConflict, true, ""}} {
		r := waitState(t, p, send("ops"), "completed").Result
		var answer struct{ Page string }
		if r == nil || r.Provider != "pager" || r.Status != want.status || r.Duplicate != want.duplicate ||
			len(r.Response) > 0 && json.Unmarshal(r.Response, &answer) != nil || answer.Page != want.page {
			t.Errorf("result = %+v, want pager, %d, duplicate %v, page %q", r, want.status, want.duplicate, want.page)
		}
	}
	// A token the fake does not take: refused in the pager's shape, for good.
	if s := waitState(t, p, send("stale"), "archived"); !strings.Contains(s.LastError, "invalid or missing bearer token") {
		t.Errorf("last error = %q, want the fake's 401 message", s.LastError)
	}

	reqs := sb.Requests()
	if len(reqs) != 3 {
		t.Fatalf("the sandbox got %d requests, want 3: %+v", len(reqs), reqs)
	}
	for i, status := range []int{http.StatusCreated, http.StatusConflict, http.StatusUnauthorized} {
		r := reqs[i]
		if r.Provider != "pager" || r.Method != http.MethodPost || r.Path != "/pager/pages" || r.Status != status ||
			string(r.Body) != `{"text":"wake up","to":"+15550100"}` {
			t.Errorf("request %d = %s %s %s %d %s, want pager POST /pager/pages %d, the page without its time",
				i, r.Provider, r.Method, r.Path, r.Status, r.Body, status)
		}
	}
}
