package send

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/tasks"
)

// testTransports are a transport of each provider to url.
func testTransports(t testing.TB, url string) map[string]*senders.Transport {
	t.Helper()
	mc, err := mateo.NewTransport(url)
	if err != nil {
		t.Fatal(err)
	}
	lc, err := leadconnector.NewTransport(url, "2021-04-15")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*senders.Transport{mateo.Name: mc, leadconnector.Name: lc}
}

// taskOf is the asynq task of a send of type typ with payload p, as a
// producer makes it.
func taskOf(t testing.TB, typ string, p tasks.Payload) *asynq.Task {
	t.Helper()
	task, err := tasks.Rebuild(typ, p, "", "", tasks.Options{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// scriptedLimiter answers Reserve with its slots in turn, the last one
// again when they run out, and records what it was asked.
type scriptedLimiter struct {
	mu    sync.Mutex
	slots []time.Time
	asked int
}

func (l *scriptedLimiter) Reserve(_ context.Context, _, _, _ string, _ time.Time) (time.Time, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked++
	s := l.slots[0]
	if len(l.slots) > 1 {
		l.slots = l.slots[1:]
	}
	return s, true, nil
}

func (*scriptedLimiter) Block(context.Context, string, string, time.Time) error { return nil }
func (*scriptedLimiter) Release(context.Context, string, string, string) error  { return nil }

// TestASendLateForItsBookingAsksTheCalendarAgain: a send ready to go
// after its booked time has passed (its process was busy, or it waited
// for a send slot) would crowd the send booked after it; it asks the
// calendar again and goes when that says.
func TestASendLateForItsBookingAsksTheCalendarAgain(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var at time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		at = time.Now()
		mu.Unlock()
		w.WriteHeader(http.StatusUnprocessableEntity)
	}))
	defer srv.Close()
	start := time.Now()
	// The booking's time has passed when the send is ready; asked again,
	// the calendar moves it past the sends booked after it. Asked once
	// more (the process woke late again), it keeps that time.
	moved := start.Add(150 * time.Millisecond)
	l := &scriptedLimiter{slots: []time.Time{start.Add(-20 * time.Millisecond), moved}}
	h := &Handler{
		Providers: builtin.Registry(), Transports: testTransports(t, srv.URL), Tokens: oneToken{}, Policy: senders.DefaultPolicy(),
		Logger: zap.NewNop(), Marks: noMarks{}, Limiter: l, Retention: time.Hour,
	}
	if err := Register(asynq.NewServeMux(), h); err != nil {
		t.Fatal(err)
	}
	p := tasks.Payload{Account: "default", Due: start.Add(-time.Second), Body: []byte(`{"id":"5d1b4c50-1c1a-4a8e-9f3e-2b8e4f2a8d11","text":"hi"}`)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.ProcessTask(ctx, taskOf(t, mateo.TypeSendMessage, p)); !errors.As(err, new(permanentError)) {
		t.Fatalf("got %v, want the provider's 422", err)
	}
	if l.asked < 2 {
		t.Errorf("the calendar was asked %d times, want it asked again", l.asked)
	}
	mu.Lock()
	defer mu.Unlock()
	if at.Before(moved) {
		t.Errorf("the request went at %s, before its new booking at %s", at.Format(time.RFC3339Nano), moved.Format(time.RFC3339Nano))
	}
}
