package worker_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
)

func dueIn(d time.Duration) (string, time.Time) {
	at := time.Now().Add(d).Truncate(time.Millisecond)
	return at.UTC().Format(time.RFC3339Nano), at
}

func scheduled(at string) string {
	return `{"type":"mateo:send_message","process_at":"` + at + `","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi"}}`
}

func TestCancel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		due   time.Duration
		state string // the state to cancel it in
	}{
		{"scheduled", 3 * time.Second, "scheduled"},
		{"held by a worker for its time", 1500 * time.Millisecond, "active"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, nil)
			at, due := dueIn(c.due)
			id := e.enqueue(t, scheduled(at))
			e.waitState(t, id, c.state, 3*time.Second)
			if err := e.producer.Cancel(context.Background(), id); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			time.Sleep(time.Until(due) + 700*time.Millisecond)
			if n := len(e.sandbox.Requests()); n != 0 {
				t.Errorf("%d requests after the cancellation", n)
			}
			if s, err := e.producer.Status(context.Background(), id); err != nil || s.State != "cancelled" || s.CancelledAt.IsZero() {
				t.Errorf("status after the cancellation: %+v, %v; want cancelled, with its time", s, err)
			}
		})
	}
}

func TestCancelAfterTheSendIsTooLate(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	id := e.enqueue(t, plainMessage)
	e.waitState(t, id, "completed", 3*time.Second)
	if err := e.producer.Cancel(context.Background(), id); !errors.Is(err, producer.ErrTooLate) {
		t.Errorf("cancel of a completed send: %v, want ErrTooLate", err)
	}
}

func TestReschedule(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	at, oldDue := dueIn(10 * time.Second)
	id := e.enqueue(t, scheduled(at))
	_, newDue := dueIn(1500 * time.Millisecond)
	res, err := e.producer.Reschedule(context.Background(), id, newDue)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != id {
		t.Errorf("rescheduled as %s, want the same id %s", res.ID, id)
	}
	req := e.requests(t, 1, 5*time.Second)[0]
	if req.At.Before(newDue) || req.At.After(oldDue) {
		t.Errorf("sent at %s, want from %s on (not the old %s)", req.At.Format(time.RFC3339Nano), newDue.Format(time.RFC3339Nano), oldDue.Format(time.RFC3339Nano))
	}
	e.waitState(t, id, "completed", 2*time.Second)
	if _, err := e.producer.Reschedule(context.Background(), id, newDue); !errors.Is(err, producer.ErrTooLate) {
		t.Errorf("reschedule of a completed send: %v, want ErrTooLate", err)
	}
}

func TestArchivedIsListedAndRetried(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.sandbox.Script(sandbox.Answer{Status: http.StatusUnprocessableEntity, Body: `{"code":"22P02","message":"invalid channel"}`})
	id := e.enqueue(t, plainMessage)
	e.waitState(t, id, "archived", 3*time.Second)

	list, err := e.producer.List(context.Background(), producer.ListOptions{State: producer.StateArchived, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || !strings.Contains(list[0].LastError, "422") || !strings.Contains(list[0].LastError, "invalid channel") {
		t.Fatalf("archived list %+v, want the task with its 422 and message", list)
	}
	if err := e.producer.Retry(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	s := e.waitState(t, id, "completed", 3*time.Second)
	if s.Result == nil || s.Result.Status != http.StatusOK {
		t.Errorf("after the retry: %+v", s.Result)
	}
	if n := len(e.sandbox.Requests()); n != 2 {
		t.Errorf("%d requests, want the refused one and the retry", n)
	}
}
