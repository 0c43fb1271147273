package producer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/window"
)

// setEnv clears every variable the configuration reads that the test
// environment might carry, and sets env.
func setEnv(t *testing.T, env map[string]string) {
	for _, k := range []string{"REDIS_URL", "REDIS_URL_FILE", "REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_ADDRS", "REDIS_SENTINEL_MASTER",
		"REDIS_USERNAME", "REDIS_PASSWORD", "RATE_LIMITS", "SEND_WINDOWS", "RECIPIENT_CAPS", "MAX_RETRY", "RESULT_RETENTION"} {
		t.Setenv(k, env[k])
	}
}

func TestFromEnvReadsTheVariablesAsTheCLIDoes(t *testing.T) {
	setEnv(t, map[string]string{
		"REDIS_URL":    "redis://" + redistest.Start(t).Addr + "/0",
		"SEND_WINDOWS": "office=Europe/Berlin mon-fri 09:00-17:00",
		"MAX_RETRY":    "3",
	})
	p, err := producer.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	req := &mateo.SendMessageRequest{From: "3c90c3cc-0d44-4b50-8888-8dd25736052a", Text: "Hi"}
	// A name SEND_WINDOWS does not define is refused when enqueued only
	// when the windows were read.
	if _, err := p.Send(ctx, req, producer.NamedWindow("nights")); err == nil || !strings.Contains(err.Error(), "nights") {
		t.Errorf("unknown window: %v, want it refused by name", err)
	}
	res, err := p.Send(ctx, req, producer.NamedWindow("office"), producer.At(time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Status(ctx, res.ID)
	if err != nil || s.MaxRetry != 3 {
		t.Errorf("status %+v, %v; want MAX_RETRY's 3 retries", s, err)
	}
}

func TestFromEnvNamesABadVariable(t *testing.T) {
	setEnv(t, map[string]string{"RATE_LIMITS": "mateo=fast", "REDIS_URL": "redis://ops:s3cret@127.0.0.1:1/0"})
	_, err := producer.FromEnv()
	if err == nil || !strings.Contains(err.Error(), "RATE_LIMITS") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v, want RATE_LIMITS named and no password", err)
	}
}

func TestOpenWithoutAURLUsesTheDefault(t *testing.T) {
	t.Parallel()
	p, err := producer.Open("")
	if err != nil {
		t.Fatalf("Open(\"\"): %v, want REDIS_URL's default", err)
	}
	_ = p.Close()
}

func TestWindowAndNamedWindowTogetherAreRefused(t *testing.T) {
	t.Parallel()
	p := openProducer(t)
	req := &mateo.SendMessageRequest{From: "3c90c3cc-0d44-4b50-8888-8dd25736052a", Text: "Hi"}
	spec := window.Spec{TZ: "Europe/Berlin", From: "08:00", To: "20:00"}
	for _, opts := range [][]producer.SendOption{
		{producer.Window(spec), producer.NamedWindow("office")},
		{producer.NamedWindow("office"), producer.Window(spec)},
	} {
		_, err := p.Send(context.Background(), req, opts...)
		if err == nil || !strings.Contains(err.Error(), "Window and NamedWindow") {
			t.Errorf("error %v, want both options named", err)
		}
	}
}

func TestListTakesOptionsAndStates(t *testing.T) {
	t.Parallel()
	p := openProducer(t)
	ctx := context.Background()
	var ids []string
	for _, text := range []string{"a", "b", "c"} {
		res, err := p.Send(ctx, &mateo.SendMessageRequest{From: "3c90c3cc-0d44-4b50-8888-8dd25736052a", Text: text},
			producer.At(time.Now().Add(time.Hour)), producer.Group("g:1"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	if err := p.Cancel(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	list, err := p.List(ctx, producer.ListOptions{State: producer.StateScheduled, Queue: "mateo", Limit: 1})
	if err != nil || len(list) != 1 || list[0].State != producer.StateScheduled {
		t.Errorf("scheduled, limit 1: %v, %v", list, err)
	}
	if list, err = p.List(ctx, producer.ListOptions{}); err != nil || len(list) != 2 {
		t.Errorf("default: %d tasks, %v; want the 2 scheduled", len(list), err)
	}
	if list, err = p.List(ctx, producer.ListOptions{State: producer.StateCancelled}); err != nil || len(list) != 1 || list[0].ID != ids[0] {
		t.Errorf("cancelled: %v, %v; want %s", list, err, ids[0])
	}
	if _, err = p.List(ctx, producer.ListOptions{State: "lost"}); err == nil || !strings.Contains(err.Error(), `State: unknown state "lost"`) {
		t.Errorf("unknown state: %v", err)
	}
	if _, err = p.List(ctx, producer.ListOptions{Limit: -1}); err == nil || !strings.Contains(err.Error(), "Limit") {
		t.Errorf("negative limit: %v", err)
	}
}

func TestRetryHonoursItsContext(t *testing.T) {
	t.Parallel()
	p := openProducer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Retry(ctx, "some-task"); !errors.Is(err, context.Canceled) {
		t.Errorf("Retry: %v, want context.Canceled", err)
	}
	if _, err := p.RetryAllArchived(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("RetryAllArchived: %v, want context.Canceled", err)
	}
}

// TestStatusTellsTheExactTimeOfAScheduledSend: asynq keeps a scheduled
// send's time in whole seconds and early; status tells the time it may go,
// its due time's milliseconds or its window's opening.
func TestStatusTellsTheExactTimeOfAScheduledSend(t *testing.T) {
	t.Parallel()
	p := openProducer(t)
	ctx := context.Background()
	due := time.Now().Add(time.Hour).Truncate(time.Second).Add(250 * time.Millisecond).UTC()
	opens := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Minute)
	spec := window.Spec{TZ: "UTC", From: opens.Format("15:04"), To: opens.Add(time.Minute).Format("15:04")}
	msg := &mateo.SendMessageRequest{From: "3c90c3cc-0d44-4b50-8888-8dd25736052a", Text: "at its time"}
	for _, c := range []struct {
		name string
		opts []producer.SendOption
		want time.Time
	}{
		{"due", []producer.SendOption{producer.At(due)}, due},
		{"window", []producer.SendOption{producer.Window(spec)}, opens},
	} {
		res, err := p.Send(ctx, msg, append(c.opts, producer.Key(c.name))...)
		if err != nil {
			t.Fatal(err)
		}
		s, err := p.Status(ctx, res.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.State != producer.StateScheduled || !s.NextProcessAt.Equal(c.want) {
			t.Errorf("%s: %s, next %v; want scheduled, next %v", c.name, s.State, s.NextProcessAt, c.want)
		}
	}
}

func TestStatusOfASendRescheduledIntoItsWindowTellsItsNewTime(t *testing.T) {
	t.Parallel()
	p := openProducer(t)
	ctx := context.Background()
	day := time.Now().UTC().AddDate(0, 0, 3).Truncate(24 * time.Hour)
	due := day.Add(12 * time.Hour) // after the window closes: it opens the next day at 10:00
	res, err := p.EnqueueJSON(ctx, []byte(windowEnvelope("w1", "", due.Format(time.RFC3339), `{"tz":"UTC","from":"10:00","to":"11:00"}`)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Status(ctx, res.ID)
	if err != nil || !s.NextProcessAt.Equal(day.Add(34*time.Hour)) {
		t.Fatalf("due after its window closed: %+v, %v; want next at the opening the day after", s, err)
	}
	inside := day.Add(10*time.Hour + 30*time.Minute)
	if _, err := p.Reschedule(ctx, res.ID, inside); err != nil {
		t.Fatal(err)
	}
	if s, err = p.Status(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if !s.NextProcessAt.Equal(inside) {
		t.Errorf("rescheduled to %v (inside its window): status says next %v, window_at %v", inside, s.NextProcessAt, s.WindowAt)
	}
}
func TestListAndStatusTellTheSameNextAttempt(t *testing.T) {
	t.Parallel()
	p := openProducer(t)
	ctx := context.Background()
	due := time.Now().Add(time.Hour).Truncate(time.Second).Add(250 * time.Millisecond).UTC()
	res, err := p.EnqueueJSON(ctx, []byte(windowEnvelope("l1", "", due.Format(time.RFC3339Nano), "")))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := p.Status(ctx, res.ID)
	ls, err := p.List(ctx, producer.ListOptions{State: producer.StateScheduled})
	if err != nil || len(ls) != 1 {
		t.Fatal(ls, err)
	}
	if !ls[0].NextProcessAt.Equal(s.NextProcessAt) {
		t.Errorf("due %v: status next %v, list next %v", due, s.NextProcessAt, ls[0].NextProcessAt)
	}
}

// windowEnvelope is a Mateo send of key, due at, in group and window
// (JSON) when given.
func windowEnvelope(key, group, at, window string) string {
	g := ""
	if group != "" {
		g = `,"group":"` + group + `"`
	}
	if window != "" {
		g += `,"window":` + window
	}
	return `{"type":"mateo:send_message","key":"` + key + `","process_at":"` + at + `"` + g +
		`,"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"a@b.c"}],"text":"hi"}}`
}

// openProducer returns a Producer on a redis-server of its own, closed
// when the test ends.
func openProducer(t *testing.T) *producer.Producer {
	t.Helper()
	p, err := producer.Open("redis://" + redistest.Start(t).Addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}
