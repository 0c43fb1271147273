package tasks

import (
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/window"
)

func TestPrepareFindsTheWindowsOpening(t *testing.T) {
	t.Parallel()
	// Wednesday 2026-12-02, 03:00 in New York (08:00 UTC).
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	o := Options{Providers: builtinReg, Now: func() time.Time { return now }, Windows: map[string]window.Spec{
		"tcpa":   {TZ: "auto", From: "08:00", To: "21:00"},
		"office": {TZ: "America/New_York", Days: "mon-fri", From: "09:00", To: "17:00"},
	}}
	const to = `"to":[{"handle":"+12125550123"},{"handle":"+4915112345678"}]`
	for _, c := range []struct {
		name, envelope string
		opening        time.Time // zero: the window is open
		books          bool
	}{
		{"closed now", `{"type":"mateo:send_message","window":"office","payload":{` + from + `}}`, time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC), true},
		{"closed at the due time", `{"type":"mateo:send_message","window":{"tz":"Asia/Tokyo","from":"08:00","to":"21:00"},"process_at":"2026-12-02T13:00:00Z","payload":{` + from + `}}`, time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC), true},
		{"open at the due time", `{"type":"mateo:send_message","window":"office","process_at":"2026-12-02T15:00:00Z","payload":{` + from + `}}`, time.Time{}, false},
		{"open now", `{"type":"mateo:send_message","window":{"tz":"Europe/Berlin","from":"08:00","to":"21:00"},"payload":{` + from + `}}`, time.Time{}, true},
		// 08:00 to 21:00 in New York and in Berlin: from 13:00 UTC.
		{"auto, in the zones of every number", `{"type":"mateo:send_message","window":"tcpa","payload":{` + from + `,` + to + `}}`, time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC), true},
		{"auto in LeadConnector's toNumber", `{"type":"leadconnector:send_message","window":{"tz":"auto","from":"08:00","to":"21:00"},"payload":{"type":"SMS","contactId":"c1","toNumber":"+61212345678"}}`, time.Time{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := ParseEnvelope([]byte(c.envelope), builtinReg)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Prepare(e, o)
			if err != nil {
				t.Fatal(err)
			}
			if !s.Opening.Equal(c.opening) {
				t.Errorf("opening %s, want %s", s.Opening, c.opening)
			}
			if got := s.Books(now); got != c.books {
				t.Errorf("books its slot when enqueued: %v, want %v", got, c.books)
			}
			// A send held for its window is booked at the opening, so that
			// its task reaches a worker at its slot, not with all the others
			// at the opening.
			if want := later(now, c.opening); c.books && !s.BookAt(now).Equal(want) {
				t.Errorf("booked for %s, want %s", s.BookAt(now), want)
			}
			if !s.Opening.IsZero() {
				task, err := s.Task(o, s.Payload.Due)
				if err != nil {
					t.Fatal(err)
				}
				p, err := DecodePayload(task.Payload())
				if err != nil || p.Window != e.Window || !p.Due.Equal(e.ProcessAt) {
					t.Errorf("the task carries window %+v and due %s (%v), want the envelope's %+v and %s", p.Window, p.Due, err, e.Window, e.ProcessAt)
				}
			}
		})
	}
}

func TestPrepareRefusesAWindowItCannotKeep(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	o := Options{Providers: builtinReg, Now: func() time.Time { return now }, Windows: map[string]window.Spec{"tcpa": {TZ: "auto", From: "08:00", To: "21:00"}}}
	for _, c := range []struct{ name, envelope, want string }{
		{"unknown name", `{"type":"mateo:send_message","window":"tpca","payload":{` + from + `}}`, `window: window "tpca": SEND_WINDOWS has no window of that name (it has tcpa)`},
		{"auto without a phone", `{"type":"mateo:send_message","window":"tcpa","payload":{` + from + `,"to":[{"handle":"ana@example.com"}]}}`, `window.tz: tz "auto" needs the recipient's phone number`},
		{"auto with no recipient", `{"type":"leadconnector:send_message","window":{"tz":"auto","from":"08:00","to":"21:00"},"payload":{"type":"SMS","contactId":"c1"}}`, `window.tz: tz "auto" needs a phone recipient`},
		{"auto for an update", `{"type":"mateo:update_conversation","window":{"tz":"auto","from":"08:00","to":"21:00"},"payload":{"id":"9b2f6c3e-1d4a-4e8b-9c7d-2a5f8e1b3c6d","status":"open"}}`, `window.tz: tz "auto" needs a phone recipient`},
		{"expires before the opening", `{"type":"mateo:send_message","window":{"tz":"UTC","from":"12:00","to":"13:00"},"expires_at":"2026-12-02T11:00:00Z","payload":{` + from + `}}`, "expires_at: not after the window's opening 2026-12-02T12:00:00Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := ParseEnvelope([]byte(c.envelope), builtinReg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Prepare(e, o); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}

	// A producer that does not know SEND_WINDOWS leaves the name to the
	// worker, and the booking too.
	e, err := ParseEnvelope([]byte(`{"type":"mateo:send_message","window":"tpca","payload":{`+from+`}}`), builtinReg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Prepare(e, Options{Providers: builtinReg, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if s.Books(now) || !s.Opening.IsZero() {
		t.Errorf("a name not known here: books %v, opening %s; want no booking, no opening", s.Books(now), s.Opening)
	}
}
