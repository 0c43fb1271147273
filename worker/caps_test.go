package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// capped is a Mateo message to handle with text, as an envelope.
func capped(handle, text string, extra string) string {
	return fmt.Sprintf(`{"type":"mateo:send_message",%s"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":%q}],"text":%q}}`, extra, handle, text)
}

// capBookings returns the time each task holds in the recipients' cap
// calendars, adding to booked.
func capBookings(t *testing.T, rdb redis.UniversalClient, booked map[string]time.Time) map[string]time.Time {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "punctual:cap:*:bookings").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		zs, err := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range zs {
			booked[z.Member.(string)] = time.UnixMilli(int64(z.Score))
		}
	}
	return booked
}

// watchCaps waits until every task of ids is done, and returns the cap
// booking each was last seen with: a calendar trims a booking once its
// period has passed.
func (e *env) watchCaps(t *testing.T, ids []string, within time.Duration) map[string]time.Time {
	t.Helper()
	booked := map[string]time.Time{}
	deadline := time.Now().Add(within)
	for _, id := range ids {
		for {
			capBookings(t, e.rdb, booked)
			s, err := e.producer.Status(context.Background(), id)
			if err == nil && (s.State == "completed" || s.State == "archived") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s not done within %s: %+v (err %v)", id, within, s, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return capBookings(t, e.rdb, booked)
}

// sentAt returns when the sandbox received each message, by its text.
func (e *env) sentAt(t *testing.T) map[string]time.Time {
	t.Helper()
	at := map[string]time.Time{}
	for _, r := range e.sandbox.Requests() {
		var body struct{ Text string }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		at[body.Text] = r.At
	}
	return at
}

// checkCap checks that no period holds more than count of the sends of
// ids (by the messages' texts), nor of their cap bookings, which may be
// used late late: the bookings are that much further apart. Each message
// went at or after its booking, and not much later. It returns the
// bookings in order.
func checkCap(t *testing.T, e *env, booked map[string]time.Time, ids map[string]string, count int, period, late time.Duration) []time.Time {
	t.Helper()
	at := e.sentAt(t)
	var times, sent []time.Time
	for text, id := range ids {
		b, ok := booked[id]
		if !ok {
			t.Fatalf("%q holds no cap booking", text)
		}
		times, sent = append(times, b), append(sent, at[text])
		// The sandbox reads its clock after the request arrived: a
		// millisecond of rounding is all a request may seem early by.
		if at[text].Before(b.Add(-time.Millisecond)) || at[text].After(b.Add(late+250*time.Millisecond)) {
			t.Errorf("%q sent at %s, booked at %s", text, at[text].Format(time.StampMilli), b.Format(time.StampMilli))
		}
	}
	for _, ts := range []struct {
		what   string
		times  []time.Time
		period time.Duration
	}{{"sends", sent, period}, {"bookings", times, period + late}} {
		slices.SortFunc(ts.times, time.Time.Compare)
		for i := count; i < len(ts.times); i++ {
			if d := ts.times[i].Sub(ts.times[i-count]); d < ts.period {
				t.Errorf("%s %d and %d %s apart: %d within %s", ts.what, i-count, i, d, count+1, ts.period)
			}
		}
	}
	return times
}

func TestRecipientCapDelaysTheFourthSend(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"RECIPIENT_CAPS": "3/4s"})
	// One number, written four ways; another recipient beside it. All
	// due at one time, for the lateness metric.
	due := `"process_at":"` + time.Now().Add(500*time.Millisecond).UTC().Format(time.RFC3339Nano) + `",`
	ids := map[string]string{}
	var all []string
	for i, handle := range []string{"+1 415 555 2671", "+14155552671", "+1-415-555-2671", "+1 (415) 555-2671"} {
		text := fmt.Sprintf("ana %d", i)
		ids[text] = e.enqueue(t, capped(handle, text, due))
		all = append(all, ids[text])
	}
	bob := e.enqueue(t, capped("bob@example.com", "bob", due))

	// The fourth waits in its queue for the cap, an attempt not spent, and
	// its status says why.
	var fourth string
	deadline := time.Now().Add(3 * time.Second)
	for fourth == "" {
		for _, id := range ids {
			if s, err := e.producer.Status(context.Background(), id); err == nil && strings.Contains(s.LastError, "recipient_cap") {
				fourth = id
				if s.Retried != 0 || s.State == "archived" {
					t.Errorf("a send held by its cap: %+v", s)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no send shown as held by the recipient's cap within 3s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	all = append(all, bob)
	booked := e.watchCaps(t, all, 10*time.Second)
	e.completedFirstTry(t, all, time.Second)

	// A send of a 4 s cap may go 400 ms late: the fourth goes 4.4 s after
	// the first, not later.
	times := checkCap(t, e, booked, ids, 3, 4*time.Second, 400*time.Millisecond)
	if d := times[3].Sub(times[0]); d > 4400*time.Millisecond+100*time.Millisecond {
		t.Errorf("the fourth send booked %s after the first, want 4.4s", d)
	}
	if b := booked[bob]; b.After(times[0].Add(time.Second)) {
		t.Errorf("bob's send booked at %s, behind ana's from %s", b, times[0])
	}
	_, body := get(t, "http://"+e.worker.HealthAddr()+"/metrics", "", "")
	for _, want := range []string{
		`punctual_send_lateness_seconds_count{cause="recipient_cap",provider="mateo"} 1`,
		`punctual_waits_total{account="default",provider="mateo",reason="recipient_cap"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestRecipientCapHoldsAcrossWorkers(t *testing.T) {
	t.Parallel()
	// Each worker takes one queue, so both send to the recipient at once.
	e := setup(t, map[string]string{"RECIPIENT_CAPS": "3/4s", "WORKER_QUEUES": "mateo=1"})
	other := setupWith(t, e.sandbox, map[string]string{
		"RECIPIENT_CAPS": "3/4s", "WORKER_QUEUES": "bulk=1",
		"REDIS_URL": "redis://" + e.rdb.(*redis.Client).Options().Addr + "/0",
	})
	// Due at once, a second from now: both workers wait for them.
	due := time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)
	ids := map[string]string{}
	var all []string
	for i := range 6 {
		text := fmt.Sprintf("ana %d", i)
		queue := []string{"mateo", "bulk"}[i%2]
		ids[text] = e.enqueue(t, capped("+14155552671", text, `"queue":"`+queue+`","process_at":"`+due+`",`))
		all = append(all, ids[text])
	}
	booked := e.watchCaps(t, all, 15*time.Second)
	e.completedFirstTry(t, all, time.Second)
	checkCap(t, e, booked, ids, 3, 4*time.Second, 400*time.Millisecond)
	if n, m := e.logs.FilterMessage("sent").Len(), other.logs.FilterMessage("sent").Len(); n != 3 || m != 3 {
		t.Errorf("the workers sent %d and %d, want 3 each", n, m)
	}
}

func TestRecipientCapFreesTheTimeOfASendThatExpires(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"RECIPIENT_CAPS": "1/3s"})
	first := e.enqueue(t, capped("ana@example.com", "first", ""))
	e.completedFirstTry(t, []string{first}, 5*time.Second)
	// Moved 3 s by the cap, past the time it expires.
	expires := time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)
	late := e.enqueue(t, capped("ana@example.com", "late", `"expires_at":"`+expires+`",`))
	if s := e.waitState(t, late, "archived", 6*time.Second); !strings.Contains(s.LastError, "expired") {
		t.Fatalf("archived with %q, want expired", s.LastError)
	}
	if _, ok := capBookings(t, e.rdb, map[string]time.Time{})[late]; ok {
		t.Error("the expired send keeps its cap booking")
	}
	// Archived as soon as the cap moved it past its expiry, its time is
	// free: a send due once the cap allows one after the first goes then,
	// not 3 s after the expired one's booking.
	due := e.sentAt(t)["first"].Add(3500 * time.Millisecond)
	next := e.enqueue(t, capped("Ana@Example.com", "next", `"process_at":"`+due.UTC().Format(time.RFC3339Nano)+`",`))
	e.completedFirstTry(t, []string{next}, 8*time.Second)
	if d := e.sentAt(t)["next"].Sub(due); d > time.Second {
		t.Errorf("the next send went %s after it was due", d)
	}
}

func TestRecipientCapFreesTheTimeOfACancelledSend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name, extra string
		cancel      func(e *env, id string) error
	}{
		{"alone", "", func(e *env, id string) error { return e.producer.Cancel(ctx, id) }},
		{"with its group", `"group":"contact:ana",`, func(e *env, _ string) error {
			res, err := e.producer.CancelGroup(ctx, "contact:ana")
			if err == nil && res.Cancelled != 1 {
				err = fmt.Errorf("cancelled %+v, want the one send", res)
			}
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, map[string]string{"RECIPIENT_CAPS": "1/3s"})
			first := e.enqueue(t, capped("ana@example.com", "first", ""))
			e.completedFirstTry(t, []string{first}, 5*time.Second)
			sent := e.sentAt(t)["first"]

			// The cap moves the second send 3.3 s on (its period, and how
			// late a booking may be used): the worker books that time and
			// puts the send back in its queue until then.
			moved := e.enqueue(t, capped("ana@example.com", "moved", c.extra))
			deadline := time.Now().Add(2 * time.Second)
			for {
				_, booked := capBookings(t, e.rdb, map[string]time.Time{})[moved]
				s, err := e.producer.Status(ctx, moved)
				if booked && err == nil && (s.State == "scheduled" || s.State == "retry") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the second send not booked by the cap and put back within 2s: %+v (err %v)", s, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := c.cancel(e, moved); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			if _, ok := capBookings(t, e.rdb, map[string]time.Time{})[moved]; ok {
				t.Error("the cancelled send keeps its cap booking")
			}

			// Due when the cap allows a send again, the next goes then, not
			// a period after the place the cancelled send held.
			due := sent.Add(3500 * time.Millisecond)
			next := e.enqueue(t, capped("Ana@Example.com", "next", `"process_at":"`+due.UTC().Format(time.RFC3339Nano)+`",`))
			e.completedFirstTry(t, []string{next}, 10*time.Second)
			if d := e.sentAt(t)["next"].Sub(due); d > 500*time.Millisecond {
				t.Errorf("the next send went %s after it was due", d.Round(time.Millisecond))
			}
			if _, ok := e.sentAt(t)["moved"]; ok {
				t.Error("the cancelled send was sent")
			}
		})
	}
}
