package tasks_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/tasks"
)

// builtinReg is the registry the envelopes of the tests are checked against.
var builtinReg = builtin.Registry()

// plainLine is a send spelled plainly; the tests below spell it otherwise.
const plainLine = `{"type":"mateo:send_message","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`

func contentKey(t *testing.T, line string) string {
	t.Helper()
	e, err := tasks.ParseEnvelope([]byte(line), builtinReg)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	key, err := e.ContentKey()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return key
}

func TestContentKeyIgnoresSpelling(t *testing.T) {
	t.Parallel()
	plain := contentKey(t, plainLine)
	if !regexp.MustCompile(`^content:[0-9a-f]{32}$`).MatchString(plain) {
		t.Fatalf("key %q, want content: and 32 hex digits", plain)
	}
	cases := []struct{ name, line string }{
		{"field order", `{"payload":{"text":"Hi","to":[{"handle":"ana@example.com"}],"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"},"process_at":"2026-11-21T17:00:00Z","type":"mateo:send_message"}`},
		{"white space between tokens", "{ \"type\" : \"mateo:send_message\",\t\"process_at\":\"2026-11-21T17:00:00Z\",\r\n \"payload\": {\"from\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\", \"to\": [ {\"handle\": \"ana@example.com\"} ], \"text\": \"Hi\"} }"},
		{"explicit default account", `{"type":"mateo:send_message","account":"default","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"null account", `{"type":"mateo:send_message","account":null,"process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"escaped text", `{"type":"mateo:send_message","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana\u0040example.com"}],"text":"\u0048i"}}`},
		{"escaped names", `{"\u0074ype":"mateo:send_message","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"\u0074ext":"Hi"}}`},
		{"another zone", `{"type":"mateo:send_message","process_at":"2026-11-21T18:00:00+01:00","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"another precision", `{"type":"mateo:send_message","process_at":"2026-11-21T17:00:00.000000000Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"explicit default queue", `{"type":"mateo:send_message","queue":"mateo","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"a key of its own", `{"type":"mateo:send_message","key":"k1","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := contentKey(t, c.line); got != plain {
				t.Errorf("key %s, want %s as for\n%s", got, plain, plainLine)
			}
		})
	}
}

func TestContentKeyTellsSendsApart(t *testing.T) {
	t.Parallel()
	plain := contentKey(t, plainLine)
	cases := []struct{ name, line string }{
		{"another text", `{"type":"mateo:send_message","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi!"}}`},
		{"white space in a string", `{"type":"mateo:send_message","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"H i"}}`},
		{"another recipient", `{"type":"mateo:send_message","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"bo@example.com"}],"text":"Hi"}}`},
		{"another queue", `{"type":"mateo:send_message","queue":"bulk","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"another account", `{"type":"mateo:send_message","account":"acme","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"another instant", `{"type":"mateo:send_message","process_at":"2026-11-21T17:00:00.000000001Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"same clock time in another zone", `{"type":"mateo:send_message","process_at":"2026-11-21T17:00:00+01:00","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"no process_at", `{"type":"mateo:send_message","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"an expires_at", `{"type":"mateo:send_message","process_at":"2026-11-21T17:00:00Z","expires_at":"2026-11-22T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"a group", `{"type":"mateo:send_message","group":"contact:abc123","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
		{"process_at given as expires_at", `{"type":"mateo:send_message","expires_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if contentKey(t, c.line) == plain {
				t.Errorf("same key %s as for\n%s", plain, plainLine)
			}
		})
	}
}

func TestContentKeyOfAnEnvelopeBuiltByHand(t *testing.T) {
	t.Parallel()
	payload := json.RawMessage(`{"id":"7d3f2a10-5b6c-4d7e-8f90-a1b2c3d4e5f6","status":"open"}`)
	send := &tasks.Envelope{Type: mateo.TypeSendMessage, Payload: payload}
	update := &tasks.Envelope{Type: mateo.TypeUpdateConversation, Payload: payload}
	a, errA := send.ContentKey()
	b, errB := update.ContentKey()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a == b {
		t.Errorf("types %s and %s have the same key %s", send.Type, update.Type, a)
	}

	// Built by hand, the plain line has the key it has parsed.
	byHand := &tasks.Envelope{
		Type:      mateo.TypeSendMessage,
		ProcessAt: time.Date(2026, 11, 21, 18, 0, 0, 0, time.FixedZone("", 3600)),
		Payload:   json.RawMessage(`{"text":"Hi","to":[{"handle":"ana@example.com"}],"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}`),
	}
	if got, err := byHand.ContentKey(); err != nil || got != contentKey(t, plainLine) {
		t.Errorf("by hand: key %s, %v; want %s", got, err, contentKey(t, plainLine))
	}

	bad := &tasks.Envelope{Type: mateo.TypeSendMessage, Payload: json.RawMessage(`{"text":`)}
	if _, err := bad.ContentKey(); err == nil || !regexp.MustCompile(`^payload: invalid JSON: `).MatchString(err.Error()) {
		t.Errorf("payload not JSON: error %v, want one naming the payload", err)
	}
}

// BenchmarkContentKey compares the key of a typical batch line, already
// parsed as every line is, with a hash of the line's bytes.
func BenchmarkContentKey(b *testing.B) {
	line := []byte(`{"type":"mateo:send_message","account":"acme","process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hello Ana, your order 10482 ships tomorrow morning. The courier texts you a delivery window an hour before arriving; reply to this message to change the day or the address."}}`)
	e, err := tasks.ParseEnvelope(line, builtinReg)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("canonical", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			if _, err := e.ContentKey(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bytes", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			sum := sha256.Sum256(line)
			_ = "content:" + hex.EncodeToString(sum[:16])
		}
	})
}

func TestContentKeyCountsTheWindow(t *testing.T) {
	t.Parallel()
	// Without a window the key is the hash of the canonical JSON it was
	// before windows: a batch enqueued before and after finds its sends.
	canonical := `{"account":"default","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi","to":[{"handle":"ana@example.com"}]},"process_at":"2026-11-21T17:00:00Z","queue":"mateo","type":"mateo:send_message"}`
	sum := sha256.Sum256([]byte(canonical))
	if got, want := contentKey(t, plainLine), "content:"+hex.EncodeToString(sum[:16]); got != want {
		t.Errorf("windowless key %s, want %s", got, want)
	}

	withWindow := func(w string) string {
		return `{"type":"mateo:send_message","window":` + w + `,"process_at":"2026-11-21T17:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`
	}
	spec := contentKey(t, withWindow(`{"tz":"America/New_York","days":"mon-sat","from":"08:00","to":"21:00"}`))
	if same := contentKey(t, withWindow(`{"to":"21:00","from":"08:00","days":"mon-sat","tz":"America/New_York"}`)); same != spec {
		t.Errorf("the window's member order changed the key: %s, want %s", same, spec)
	}
	for name, w := range map[string]string{
		"no window":     "",
		"another zone":  `{"tz":"America/Chicago","days":"mon-sat","from":"08:00","to":"21:00"}`,
		"another hour":  `{"tz":"America/New_York","days":"mon-sat","from":"09:00","to":"21:00"}`,
		"every day":     `{"tz":"America/New_York","from":"08:00","to":"21:00"}`,
		"a window name": `"tcpa"`,
	} {
		line := plainLine
		if w != "" {
			line = withWindow(w)
		}
		if contentKey(t, line) == spec {
			t.Errorf("%s: the same key as the window mon-sat 08:00-21:00 in New York", name)
		}
	}
}
