package send

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
)

// markedWith is a task state whose marks are m.
type markedWith struct {
	noMarks
	m state.Marks
}

func (s markedWith) Load(context.Context, string) (state.Marks, error) { return s.m, nil }

// waitingToken is an account whose credential is being renewed.
type waitingToken struct{ oneToken }

func (waitingToken) Token(context.Context, string, string) (string, error) {
	return "", &WaitError{Wait: time.Second, Err: errors.New("renewing")}
}

// refusing is a provider that counts the requests it refuses.
func refusing(t *testing.T) (url string, requests *atomic.Int32) {
	requests = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusUnprocessableEntity)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, requests
}

func registered(t *testing.T, h *Handler) *Handler {
	t.Helper()
	h.Policy, h.Logger, h.Retention = senders.DefaultPolicy(), zap.NewNop(), time.Hour
	if err := Register(asynq.NewServeMux(), h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestASendOfAnIDMadeIsNotMadeAgain: once a send is made, its record
// (Marks.Done) stands for its key: a task of the same id, whether this one
// back after its worker stopped before asynq recorded it, or another
// enqueued under the key, ends done with no request, for any provider. A
// sending mark of another task (a key reused after a cancel) is not this
// send's: it goes.
func TestASendOfAnIDMadeIsNotMadeAgain(t *testing.T) {
	t.Parallel()
	p := tasks.Payload{Account: "default", Body: []byte(`{"id":"5d1b4c50-1c1a-4a8e-9f3e-2b8e4f2a8d11","text":"hi"}`)}
	for _, c := range []struct {
		name       string
		marks      state.Marks
		atMostOnce bool
		requests   int32
	}{
		{"made", state.Marks{Done: &state.Completion{Queue: "mateo", At: time.Now()}}, false, 0},
		{"made, at most once", state.Marks{Done: &state.Completion{Queue: "mateo", At: time.Now()}}, true, 0},
		{"another task's request in flight", state.Marks{Sending: true, For: "0123456789abcdef"}, true, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			url, requests := refusing(t)
			h := registered(t, &Handler{Providers: builtin.Registry(), Transports: testTransports(t, url), Tokens: oneToken{}, Marks: markedWith{m: c.marks}, AtMostOnce: map[string]bool{mateo.Name: c.atMostOnce}})
			err := h.ProcessTask(context.Background(), taskOf(t, mateo.TypeSendMessage, p))
			if n := requests.Load(); n != c.requests {
				t.Errorf("%d requests (err %v), want %d", n, err, c.requests)
			}
			if c.requests == 0 && err != nil {
				t.Errorf("ended with %v, want done", err)
			}
		})
	}
}

// TestAnExpiredSendWaitingForItsTokenIsArchived: a send whose account's
// credential is being renewed waits without an attempt, but not past its
// expires_at: then it is archived as expired.
func TestAnExpiredSendWaitingForItsTokenIsArchived(t *testing.T) {
	t.Parallel()
	url, requests := refusing(t)
	h := registered(t, &Handler{Providers: builtin.Registry(), Transports: testTransports(t, url), Tokens: waitingToken{}, Marks: noMarks{}})
	p := tasks.Payload{Account: "default", ExpiresAt: time.Now().Add(-time.Millisecond), Body: []byte(`{"id":"5d1b4c50-1c1a-4a8e-9f3e-2b8e4f2a8d11","text":"hi"}`)}
	err := h.ProcessTask(context.Background(), taskOf(t, mateo.TypeSendMessage, p))
	if !errors.Is(err, asynq.SkipRetry) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("got %v, want it archived as expired", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

// TestAStoppingWorkerStartsNoRequest: once the worker stops taking tasks,
// a try not yet at its request is put back, spending no attempt, rather
// than start a request the stop's bound could cut off (and a provider
// without idempotency then receive twice).
func TestAStoppingWorkerStartsNoRequest(t *testing.T) {
	t.Parallel()
	url, requests := refusing(t)
	stopping := make(chan struct{})
	close(stopping)
	p := tasks.Payload{Account: "default", Body: []byte(`{"id":"5d1b4c50-1c1a-4a8e-9f3e-2b8e4f2a8d11","text":"hi"}`)}
	h := registered(t, &Handler{Providers: builtin.Registry(), Transports: testTransports(t, url), Tokens: oneToken{}, Marks: noMarks{}, Stopping: stopping})
	err := h.ProcessTask(context.Background(), taskOf(t, mateo.TypeSendMessage, p))
	var wait *WaitError
	if !errors.As(err, &wait) || wait.Failure || wait.Reason != "stopping" {
		t.Errorf("error %v, want a put-back wait that spends no attempt", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}
