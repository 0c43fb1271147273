package providers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/tasks"
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
	Duplicate: func(e *senders.APIError) bool { return e.StatusCode == http.StatusConflict },
}

func init() { providers.Register(pager) }

type received struct {
	method, path, auth, contentType, body string
}

type tokens map[string]string

func (t tokens) Token(_ context.Context, provider, account string) (string, error) {
	if tok, ok := t[provider+"/"+account]; ok {
		return tok, nil
	}
	return "", tasks.ErrNoAccount
}

func (tokens) Refused(context.Context, string, string, string) bool { return false }
func (tokens) Rejected(context.Context, string, string, string)     {}

// TestANewOperationIsSentEndToEnd registers an operation from this file
// alone and follows a send of it from the producer, through the worker's
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
	p := producer.NewFromClient(rdb)

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
	for _, name := range providers.Names() {
		tr, err := senders.NewTransport(name, api.URL, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		transports[name] = tr
	}
	h := &tasks.Handler{Transports: transports, Tokens: tokens{"pager/ops": "pager-secret"}, Policy: senders.DefaultPolicy(),
		Logger: zaptest.NewLogger(t), Holds: tasks.State{Client: rdb}}
	mux := asynq.NewServeMux()
	if err := tasks.Register(mux, h); err != nil {
		t.Fatal(err)
	}
	srv := asynq.NewServer(conn, asynq.Config{Queues: map[string]int{"pager": 1}, IsFailure: tasks.IsFailure, TaskCheckInterval: 50 * time.Millisecond})
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
	}{{first.ID, `{"page":"P-1"}`, 201, false}, {again.ID, `{"error":"page exists"}`, 409, true}} {
		var s *producer.Status
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if s, err = p.Status(ctx, c.id); err == nil && s.State == "completed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s: %+v, %v; want completed", c.id, s, err)
			}
		}
		r := s.Result
		if r == nil || r.Provider != "pager" || r.Status != c.status || r.Duplicate != c.duplicate || string(r.Response) != c.response {
			t.Errorf("result = %+v, want pager, %d, duplicate %v, %s", r, c.status, c.duplicate, c.response)
		}
	}
}
