package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/punctualhq/punctual/producer"
)

// A cancelled send frees its recipient-cap booking, on the worker's side
// too: a send the worker holds for its time is dropped for its
// group's cancel once it falls due, after it booked its recipient's cap.
// It must free that booking: the recipient's next send goes on time, not
// a cap period (3 s) late.
func TestASendDroppedForItsGroupFreesItsCapBooking(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"RECIPIENT_CAPS": "1/3s"})
	ctx := context.Background()
	const group = "contact:ana"
	due := time.Now().Add(2500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	dropped := e.enqueue(t, capped("ana@example.com", "dropped", `"group":"`+group+`","process_at":"`+due+`",`))
	e.waitState(t, dropped, "active", 4*time.Second) // held by the worker for its time

	res, err := e.producer.CancelGroup(ctx, group) // returns once the worker dropped it
	if err != nil || res != (producer.GroupCancel{Cancelled: 1}) {
		t.Fatalf("cancel --group: %+v, %v; want the held send cancelled", res, err)
	}
	if s := e.waitEnded(t, dropped, 5*time.Second); s.State != "cancelled" {
		t.Fatalf("setup: the grouped send ended %s (%q), want cancelled", s.State, s.LastError)
	}
	if b, ok := capBookings(t, e.rdb, map[string]time.Time{})[dropped]; ok {
		t.Errorf("the dropped send still holds a cap booking at %s", b.Format("15:04:05.000"))
	}

	// The recipient's next send, due now, goes now.
	enqueued := time.Now()
	next := e.enqueue(t, capped("Ana@Example.com", "next", ""))
	e.completedFirstTry(t, []string{next}, 6*time.Second)

	reqs := e.sandbox.Requests()
	if len(reqs) != 1 || textOf(t, reqs[0]) != "next" {
		var texts []string
		for _, r := range reqs {
			texts = append(texts, textOf(t, r))
		}
		t.Fatalf("the provider received %q, want only the next send", texts)
	}
	if late := reqs[0].At.Sub(enqueued); late > time.Second {
		t.Errorf("the recipient's next send reached the provider %s after it was due, held by the dropped send's cap booking", late.Round(time.Millisecond))
	}
}
