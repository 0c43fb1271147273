package send

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/metrics"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/window"
)

// TestASendHeldForItsWindowBooksItsSlotBeforeItGoesBack: a send taken
// while its window is closed books its account's slot for the opening
// there and then, and goes back to wait for that slot, not for the
// opening: the sends of a window come back each at its own time rather
// than all at the opening to book one after the other.
func TestASendHeldForItsWindowBooksItsSlotBeforeItGoesBack(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("a request was made while the window is closed")
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	conn := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: conn.Addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	limiter := ratelimit.New(rdb, ratelimit.Limits{"mateo": {{Count: 2, Period: time.Second}}})

	opening := time.Now().UTC().Add(2 * time.Hour).Truncate(time.Hour)
	spec := window.Spec{TZ: "UTC", From: opening.Format("15:04"), To: opening.Add(time.Hour).Format("15:04")}
	// Another send of the account has the opening: this one's slot is the
	// next the limit allows, 515 ms (2/s, 3% wide) later.
	if _, _, err := limiter.Reserve(ctx, "mateo", "default", "first", opening); err != nil {
		t.Fatal(err)
	}
	slot := opening.Add(515 * time.Millisecond)

	h := &Handler{
		Providers: builtin.Registry(), Transports: testTransports(t, srv.URL), Tokens: oneToken{}, Policy: senders.DefaultPolicy(),
		Logger: zap.NewNop(), Marks: noMarks{}, Limiter: limiter, Retention: time.Hour,
		Metrics: metrics.New(prometheus.NewRegistry(), asynq.NewInspectorFromRedisClient(rdb), nil, func(string, string) bool { return true }),
	}
	p := tasks.Payload{Account: "default", Due: time.Now(), Window: tasks.Window{Spec: spec},
		Body: []byte(`{"id":"5d1b4c50-1c1a-4a8e-9f3e-2b8e4f2a8d11","text":"hi"}`)}
	err := h.ProcessTask(ctx, taskOf(t, mateo.TypeSendMessage, p))
	var wait *WaitError
	if !errors.As(err, &wait) || !wait.Held {
		t.Fatalf("got %v, want the send put back to wait", err)
	}
	if !wait.Until.Equal(slot) {
		t.Errorf("put back until %s, want its slot %s after the opening %s", wait.Until, slot, opening)
	}
	// The booking stands while the send waits for it (the task's id is
	// "" outside asynq).
	score, err := rdb.ZScore(ctx, "punctual:rl:{mateo:default}:bookings", "").Result()
	if err != nil {
		t.Fatalf("the send's booking: %v, want it kept while it waits", err)
	}
	if at := time.UnixMilli(int64(score)); !at.Equal(slot) {
		t.Errorf("booked for %s, want %s", at, slot)
	}
}
