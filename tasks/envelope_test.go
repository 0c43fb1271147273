package tasks

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
)

// builtinReg is the registry the envelopes of the tests are checked against.
var builtinReg = builtin.Registry()

const from = `"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"`

func TestParseEnvelopeRejectsBadInputNamingTheField(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, input, want string }{
		{"not JSON", `{"type":`, "not a JSON object"},
		{"not an object", `[1]`, "not a JSON object"},
		{"invalid UTF-8", "{\"type\":\"mateo:send_message\",\"payload\":{" + from + ",\"text\":\"\xff\"}}", "not valid UTF-8"},
		{"field twice", `{"type":"mateo:send_message","payload":{` + from + `},"type":"mateo:send_message"}`, "type: given more than once"},
		{"unknown field", `{"type":"mateo:send_message","payload":{` + from + `},"sendAt":"x"}`, "sendAt: unknown field"},
		{"missing type", `{"payload":{}}`, "type: required"},
		{"unknown type", `{"type":"mateo:send_fax","payload":{}}`, `type: unknown type "mateo:send_fax"`},
		{"type not a string", `{"type":1,"payload":{}}`, "type: must be a string"},
		{"missing payload", `{"type":"mateo:send_message"}`, "payload: required"},
		{"payload not an object", `{"type":"mateo:send_message","payload":[]}`, "payload: must be an object, got an array"},
		{"bad process_at", `{"type":"mateo:send_message","process_at":"tomorrow","payload":{` + from + `}}`, `process_at: not an RFC 3339 time: "tomorrow"`},
		{"expires before process_at", `{"type":"mateo:send_message","process_at":"2030-01-02T00:00:00Z","expires_at":"2030-01-01T00:00:00Z","payload":{` + from + `}}`, "expires_at: not after process_at"},
		{"bad account", `{"type":"mateo:send_message","account":"a=b","payload":{` + from + `}}`, `account: not a name`},
		{"bad queue", `{"type":"mateo:send_message","queue":"a b","payload":{` + from + `}}`, `queue: not a name`},
		{"group with a brace", `{"type":"mateo:send_message","group":"contact:{x}","payload":{` + from + `}}`, `group: not a group name (letters, digits, _ . - : / @ # + =; at most 128): "contact:{x}"`},
		{"group with a space", `{"type":"mateo:send_message","group":"contact abc","payload":{` + from + `}}`, `group: not a group name`},
		{"group starting with a colon", `{"type":"mateo:send_message","group":":abc","payload":{` + from + `}}`, `group: not a group name`},
		{"long group", `{"type":"mateo:send_message","group":"` + strings.Repeat("g", 129) + `","payload":{` + from + `}}`, `group: not a group name`},
		{"group not a string", `{"type":"mateo:send_message","group":7,"payload":{` + from + `}}`, "group: must be a string"},
		{"long key", `{"type":"mateo:send_message","key":"` + strings.Repeat("k", 513) + `","payload":{` + from + `}}`, "key: longer than 512 bytes"},
		{"payload path", `{"type":"mateo:send_message","payload":{` + from + `,"to":[{},{},{"contact_id":"42"}]}}`, `payload.to[2].contact_id: not a UUID: "42"`},
		{"mateo from required", `{"type":"mateo:send_message","payload":{}}`, "payload.from: required"},
		{"leadconnector required", `{"type":"leadconnector:send_message","payload":{"type":"SMS"}}`, "payload.contactId: required"},
		{"update id required", `{"type":"mateo:update_conversation","payload":{"status":"open"}}`, "payload.id: required"},
		{"window zone", `{"type":"mateo:send_message","window":{"tz":"X","from":"08:00","to":"21:00"},"payload":{` + from + `}}`, `window.tz: unknown time zone "X"`},
		{"window day", `{"type":"mateo:send_message","window":{"tz":"UTC","days":"mon-fry","from":"08:00","to":"21:00"},"payload":{` + from + `}}`, `window.days: unknown day "fry"`},
		{"window hour", `{"type":"mateo:send_message","window":{"tz":"UTC","from":"8am","to":"21:00"},"payload":{` + from + `}}`, `window.from: "8am" is not a local time`},
		{"window end", `{"type":"mateo:send_message","window":{"tz":"UTC","from":"08:00"},"payload":{` + from + `}}`, `window.to: missing`},
		{"window field", `{"type":"mateo:send_message","window":{"tz":"UTC","from":"08:00","to":"21:00","zone":"UTC"},"payload":{` + from + `}}`, `window.zone: unknown field`},
		{"window value", `{"type":"mateo:send_message","window":{"tz":"UTC","from":8,"to":"21:00"},"payload":{` + from + `}}`, `window.from: must be a string`},
		{"window type", `{"type":"mateo:send_message","window":7,"payload":{` + from + `}}`, `window: must be the name of a window of SEND_WINDOWS or an object`},
		{"window name", `{"type":"mateo:send_message","window":"quiet hours","payload":{` + from + `}}`, `window: not a window name`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseEnvelope([]byte(c.input), builtinReg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

var mateoUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// build parses an envelope and returns its task payload.
func build(t *testing.T, envelope string, now time.Time) (Payload, map[string]any) {
	t.Helper()
	e, err := ParseEnvelope([]byte(envelope), builtinReg)
	if err != nil {
		t.Fatal(err)
	}
	task, err := newTask(e, Options{Providers: builtinReg, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePayload(task.Payload())
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(p.Body, &body); err != nil {
		t.Fatal(err)
	}
	return p, body
}

func TestTheGroupGoesIntoThePayload(t *testing.T) {
	t.Parallel()
	for _, g := range []string{"contact:abc123", "appointment:77", "a", "tenant/7:contact@x.org#2+b=c_d.e-f", strings.Repeat("g", 128)} {
		p, _ := build(t, `{"type":"mateo:send_message","group":"`+g+`","payload":{`+from+`}}`, time.Now())
		if p.Group != g {
			t.Errorf("payload group %q, want %q", p.Group, g)
		}
	}
	if p, _ := build(t, `{"type":"mateo:send_message","payload":{`+from+`}}`, time.Now()); p.Group != "" || p.GroupGen != 0 {
		t.Errorf("a send without a group has group %q, generation %d", p.Group, p.GroupGen)
	}
}

func TestNewTaskTakesTheDueTimeOutOfTheBody(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, envelope, timeField string
		due                       time.Time
	}{
		{"send_after", `{"type":"mateo:send_message","payload":{` + from + `,"send_after":"2026-11-21T18:00:00.250+01:00"}}`,
			"send_after", time.Date(2026, 11, 21, 17, 0, 0, 250e6, time.UTC)},
		{"send_after without seconds", `{"type":"mateo:send_message","payload":{` + from + `,"send_after":"2026-11-21T18:30Z"}}`,
			"send_after", time.Date(2026, 11, 21, 18, 30, 0, 0, time.UTC)},
		{"process_at wins", `{"type":"mateo:send_message","process_at":"2026-11-21T13:00:00Z","payload":{` + from + `,"send_after":"2026-11-21T18:00:00Z"}}`,
			"send_after", time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)},
		{"scheduledTimestamp", `{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c1","scheduledTimestamp":1795262400.5}}`,
			"scheduledTimestamp", time.Unix(1795262400, 500e6).UTC()},
		{"no time", `{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c1"}}`,
			"scheduledTimestamp", time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, body := build(t, c.envelope, now)
			if !p.Due.Equal(c.due) {
				t.Errorf("due %s, want %s", p.Due, c.due)
			}
			if _, ok := body[c.timeField]; ok {
				t.Errorf("the body still has %s: %v", c.timeField, body)
			}
			if p.Account != DefaultAccount {
				t.Errorf("account %q, want %q", p.Account, DefaultAccount)
			}
		})
	}
}

func TestNewTaskGivesEveryMateoMessageAnID(t *testing.T) {
	t.Parallel()
	now := time.Now()
	keyed := `{"type":"mateo:send_message","account":"acme","key":"order-1","payload":{` + from + `}}`
	_, a := build(t, keyed, now)
	_, b := build(t, keyed, now)
	_, other := build(t, `{"type":"mateo:send_message","account":"other","key":"order-1","payload":{`+from+`}}`, now)
	_, random1 := build(t, `{"type":"mateo:send_message","payload":{`+from+`,"id":null}}`, now)
	_, random2 := build(t, `{"type":"mateo:send_message","payload":{`+from+`}}`, now)
	_, given := build(t, `{"type":"mateo:send_message","payload":{`+from+`,"id":"ffffffff-ffff-ffff-ffff-ffffffffffff"}}`, now)

	for _, body := range []map[string]any{a, other, random1, random2} {
		if id, _ := body["id"].(string); !mateoUUID.MatchString(id) {
			t.Errorf("id %q does not match Mateo's UUID pattern", id)
		}
	}
	if a["id"] != b["id"] {
		t.Errorf("the same key gave ids %v and %v", a["id"], b["id"])
	}
	if a["id"] == other["id"] || random1["id"] == random2["id"] {
		t.Error("different envelopes got the same message id")
	}
	if given["id"] != "ffffffff-ffff-ffff-ffff-ffffffffffff" {
		t.Errorf("a given id was replaced: %v", given["id"])
	}
}

func TestNewTaskChecksExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct{ name, envelope, want string }{
		{"already passed", `{"type":"mateo:send_message","expires_at":"2026-11-21T11:00:00Z","payload":{` + from + `}}`, "expires_at: already passed"},
		{"before send_after", `{"type":"mateo:send_message","expires_at":"2026-11-21T13:00:00Z","payload":{` + from + `,"send_after":"2026-11-21T14:00:00Z"}}`, "expires_at: not after the due time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, err := ParseEnvelope([]byte(c.envelope), builtinReg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = newTask(e, Options{Providers: builtinReg, Now: func() time.Time { return now }})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestTaskIDIsDerivedFromKeyAccountAndType(t *testing.T) {
	t.Parallel()
	base := Envelope{Type: mateo.TypeSendMessage, Account: "acme", Key: "k"}
	same, otherAccount, otherType, noKey := base, base, base, base
	otherAccount.Account = "beta"
	otherType.Type = leadconnector.TypeSendMessage
	noKey.Key = ""
	if base.TaskID() != same.TaskID() || base.TaskID() == "" {
		t.Errorf("same envelope, ids %q and %q", base.TaskID(), same.TaskID())
	}
	if base.TaskID() == otherAccount.TaskID() || base.TaskID() == otherType.TaskID() {
		t.Error("the id does not depend on account and type")
	}
	if noKey.TaskID() != "" {
		t.Errorf("no key, id %q; want asynq's own", noKey.TaskID())
	}
	defaulted := Envelope{Type: mateo.TypeSendMessage, Key: "k"}
	explicit := Envelope{Type: mateo.TypeSendMessage, Account: DefaultAccount, Key: "k"}
	if defaulted.TaskID() != explicit.TaskID() {
		t.Error("an absent account and the default account give different ids")
	}
}

func TestLargePayloadsAreKeptCompressed(t *testing.T) {
	t.Parallel()
	html := strings.Repeat(`<p style=\"margin:0\">Thank you for shopping with us. Your parcel leaves tomorrow.</p>`, 250)
	for _, c := range []struct {
		name       string
		payload    string
		compressed bool
	}{
		{"short", `{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","id":"7d3f2a10-5b6c-4d7e-8f90-a1b2c3d4e5f6","text":"Hi"}`, false},
		{"a few hundred bytes", `{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hello Ana, your order 10482 ships tomorrow morning. The courier texts you a delivery window an hour before arriving; reply to this message to change the address or the day, or to leave the parcel with a neighbour. Thank you for shopping with us!"}`, true},
		{"html email", `{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","html":"` + html + `"}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			task, err := newTask(&Envelope{Type: mateo.TypeSendMessage, Account: "acme", Payload: json.RawMessage(c.payload)}, Options{Providers: builtinReg})
			if err != nil {
				t.Fatal(err)
			}
			raw := task.Payload()
			if got := !json.Valid(raw); got != c.compressed {
				t.Fatalf("compressed %t, want %t (%d bytes)", got, c.compressed, len(raw))
			}
			if plain, _ := decompress(raw); c.compressed && len(raw) > len(plain)*4/5 {
				t.Errorf("%d bytes kept for %d bytes of JSON", len(raw), len(plain))
			}
			p, err := DecodePayload(raw)
			if err != nil || p.Account != "acme" {
				t.Fatalf("decoded %+v, %v", p, err)
			}
			var body map[string]any
			if err := json.Unmarshal(p.Body, &body); err != nil || body["from"] != "3c90c3cc-0d44-4b50-8888-8dd25736052a" {
				t.Errorf("body %s, %v", p.Body, err)
			}
			if shown := FormatPayload(mateo.TypeSendMessage, raw); !strings.HasPrefix(shown, `{"account":"acme"`) {
				t.Errorf("the monitor shows %.80q", shown)
			}
		})
	}
}

func TestAPayloadEditedInPlaceAfterParsingIsTheOneSent(t *testing.T) {
	t.Parallel()
	e, err := ParseEnvelope([]byte(`{"type":"mateo:send_message","payload":{`+from+`,"text":"Hi Ana"}}`), builtinReg)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(e.Payload), "Ana")
	copy(e.Payload[i:], "Bea") // the same slice, the same length
	task, err := newTask(e, Options{Providers: builtinReg})
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePayload(task.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(p.Body), `"text":"Hi Bea"`) {
		t.Errorf("body = %s, want the edited text", p.Body)
	}

	// An edit that breaks the schema is caught, not hidden by the first check.
	i = strings.Index(string(e.Payload), "3c90c3cc")
	copy(e.Payload[i:], "zzzzzzzz")
	if _, err := newTask(e, Options{Providers: builtinReg}); err == nil || !strings.Contains(err.Error(), "payload.from: not a UUID") {
		t.Errorf("NewTask after an invalid edit = %v, want payload.from: not a UUID", err)
	}
}

// TestAnOperationMayNameItsOwnQueue: an envelope naming no queue goes to
// its operation's queue, found in the registry it is checked against.
func TestAnOperationMayNameItsOwnQueue(t *testing.T) {
	t.Parallel()
	reg := builtin.Registry()
	for i := range reg {
		reg[i].Operations = slices.Clone(reg[i].Operations)
		for j := range reg[i].Operations {
			if reg[i].Operations[j].Type == mateo.TypeSendMessage {
				reg[i].Operations[j].Queue = "bulk"
			}
		}
	}
	line := []byte(`{"type":"mateo:send_message","payload":{` + from + `,"text":"Hi"}}`)
	for _, c := range []struct {
		reg  providers.Registry
		want string
	}{{reg, "bulk"}, {builtinReg, mateo.Name}} {
		e, err := ParseEnvelope(line, c.reg)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.QueueName(); got != c.want {
			t.Errorf("QueueName = %q, want %q", got, c.want)
		}
		byHand := &Envelope{Type: mateo.TypeSendMessage, Payload: e.Payload}
		if s, err := Prepare(byHand, Options{Providers: c.reg}); err != nil || s.Queue != c.want {
			t.Errorf("Prepare of an envelope built by hand: queue %v, %v; want %q", s, err, c.want)
		}
	}
}

// newTask validates e and returns its asynq task, as a producer makes it
// between Prepare and Send.Task, without a rate-limit slot or a key's claim.
func newTask(e *Envelope, o Options) (*asynq.Task, error) {
	s, err := Prepare(e, o)
	if err != nil {
		return nil, err
	}
	return s.Task(o, s.Payload.Due)
}
