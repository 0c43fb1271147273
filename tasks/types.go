package tasks

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/punctualhq/punctual/internal/jsonvalue"
)

// Payload is the asynq payload of every task type: a wire format.
type Payload struct {
	// Account names the credential the worker sends with; never the token.
	Account string `json:"account"`
	// Due is the time before which the send must not start.
	Due time.Time `json:"due,omitzero"`
	// ExpiresAt is the time after which the send is no longer attempted.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Claim names the task's claim on its key (state.Store.Claim), for a key a
	// producer chose: a cancel frees the key only while this claim holds it.
	Claim string `json:"claim,omitempty"`
	// Window is the envelope's window as it gave it, a name or a spec;
	// zero when it gave none.
	Window Window `json:"window,omitzero"`
	// Group is the send's cancellation group (Envelope.Group), and
	// GroupGen the group's generation when the send joined it: a cancel of
	// the group since then has raised it, and the send is not made.
	Group    string `json:"group,omitempty"`
	GroupGen int64  `json:"group_gen,omitempty"`
	// Body is the provider request's body, without the time field.
	Body json.RawMessage `json:"body"`
}

// DecodePayload reads a task payload, compressed or not.
func DecodePayload(data []byte) (Payload, error) {
	plain, err := decompress(data)
	if err != nil {
		return Payload{}, err
	}
	if p, ok := decodeOwn(plain); ok {
		return p, nil
	}
	var p Payload
	err = json.Unmarshal(plain, &p)
	return p, err
}

// decodeOwn reads a payload as encodeJSON writes it, without the
// reflection of encoding/json (a payload is read per try): its strings
// have no escapes and its members a fixed order. ok is false for any other
// text, which encoding/json then reads.
func decodeOwn(b []byte) (p Payload, ok bool) {
	str := func(name string) (string, bool) {
		var found bool
		if b, found = bytes.CutPrefix(b, []byte(name)); !found {
			return "", false
		}
		end := bytes.IndexByte(b, '"')
		if end < 0 || bytes.IndexByte(b[:end], '\\') >= 0 {
			b = nil
			return "", false
		}
		v := string(b[:end])
		b = b[end+1:]
		return v, true
	}
	if p.Account, ok = str(`{"account":"`); !ok {
		return p, false
	}
	for _, t := range []struct {
		name string
		at   *time.Time
	}{{`,"due":"`, &p.Due}, {`,"expires_at":"`, &p.ExpiresAt}} {
		if v, found := str(t.name); found {
			var err error
			if *t.at, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return p, false
			}
		} else if b == nil {
			return p, false
		}
	}
	if v, found := str(`,"claim":"`); found {
		p.Claim = v
	} else if b == nil {
		return p, false
	}
	if v, found := str(`,"window":"`); found {
		p.Window.Name = v
	} else if b == nil {
		return p, false
	} else if rest, found := bytes.CutPrefix(b, []byte(`,"window":{`)); found {
		b = rest
		for _, f := range []struct {
			name string
			dst  *string
		}{{`"tz":"`, &p.Window.Spec.TZ}, {`,"days":"`, &p.Window.Spec.Days}, {`,"from":"`, &p.Window.Spec.From}, {`,"to":"`, &p.Window.Spec.To}} {
			if *f.dst, found = str(f.name); !found {
				return p, false
			}
		}
		if b, found = bytes.CutPrefix(b, []byte("}")); !found {
			return p, false
		}
	}
	if v, found := str(`,"group":"`); found {
		p.Group = v
	} else if b == nil {
		return p, false
	}
	if rest, found := bytes.CutPrefix(b, []byte(`,"group_gen":`)); found {
		end := bytes.IndexByte(rest, ',')
		n, err := strconv.ParseInt(string(rest[:max(end, 0)]), 10, 64)
		if end < 0 || err != nil {
			return p, false
		}
		p.GroupGen, b = n, rest[end:]
	}
	body, found := bytes.CutPrefix(b, []byte(`,"body":`))
	if !found || len(body) < 2 || body[len(body)-1] != '}' {
		return p, false
	}
	p.Body = json.RawMessage(body[:len(body)-1])
	return p, true
}

// FormatPayload shows a task payload as JSON, for the monitor.
func FormatPayload(_ string, data []byte) string {
	if plain, err := decompress(data); err == nil {
		return string(plain)
	}
	return string(data)
}

// encode writes the payload as JSON, compressed when that pays, without
// scanning the body again: it was encoded by this package.
func (p Payload) encode() []byte {
	return compress(p.encodeJSON())
}

func (p Payload) encodeJSON() []byte {
	b := make([]byte, 0, len(p.Body)+128)
	b = append(b, `{"account":`...)
	b = strconv.AppendQuote(b, p.Account) // a name: letters, digits, _ . -
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"due", p.Due}, {"expires_at", p.ExpiresAt}} {
		if !t.at.IsZero() {
			b = append(b, `,"`+t.name+`":"`...)
			b = t.at.AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		}
	}
	if p.Claim != "" {
		b = append(b, `,"claim":`...)
		b = strconv.AppendQuote(b, p.Claim) // a queue name, a number and hex
	}
	switch w := p.Window; {
	case w.Name != "":
		b = append(b, `,"window":`...)
		b = appendCanonicalString(b, w.Name)
	case !w.IsZero():
		b = append(b, `,"window":{"tz":`...)
		b = appendCanonicalString(b, w.Spec.TZ)
		b = append(b, `,"days":`...)
		b = appendCanonicalString(b, w.Spec.Days)
		b = append(b, `,"from":`...)
		b = appendCanonicalString(b, w.Spec.From)
		b = append(b, `,"to":`...)
		b = appendCanonicalString(b, w.Spec.To)
		b = append(b, '}')
	}
	if p.Group != "" {
		b = append(b, `,"group":`...)
		b = strconv.AppendQuote(b, p.Group) // IsGroup: nothing to escape
	}
	if p.GroupGen != 0 {
		b = append(b, `,"group_gen":`...)
		b = strconv.AppendInt(b, p.GroupGen, 10)
	}
	b = append(b, `,"body":`...)
	b = append(b, p.Body...)
	return append(b, '}')
}

// Result is what a completed task keeps as its asynq result.
type Result struct {
	// Provider is the provider that answered.
	Provider string `json:"provider"`
	// Status is the HTTP status of its answer.
	Status int `json:"status"`
	// Duplicate is true when the provider already had the message.
	Duplicate bool `json:"duplicate,omitempty"`
	// Response is the provider's answer as it sent it.
	Response json.RawMessage `json:"response,omitempty"`
}

// AppendJSON appends r as encoding/json writes it, without its reflection
// or a scan of the response (a result is written per send): a response
// that looks like JSON (an object or an array) goes as it came, any other
// as a JSON string. DecodeResult reads a response that only looked like
// JSON as a string.
func (r Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"provider":`...)
	b = strconv.AppendQuote(b, r.Provider) // a provider's name
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	if r.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	if len(r.Response) > 0 {
		b = append(b, responseMember...)
		if body := bytes.TrimSpace(r.Response); len(body) > 1 && (body[0] == '{' && body[len(body)-1] == '}' || body[0] == '[' && body[len(body)-1] == ']') {
			b = append(b, body...)
		} else {
			b, _ = jsonvalue.AppendJSON(b, string(r.Response)) // a string always encodes
		}
	}
	return append(b, '}')
}

const responseMember = `,"response":`

// DecodeResult reads a task's result. A response that only looked like
// JSON when it was written is given as a JSON string.
func DecodeResult(data []byte) (Result, error) {
	var r Result
	err := json.Unmarshal(data, &r)
	if err == nil {
		return r, nil
	}
	head, body, found := bytes.Cut(data, []byte(responseMember))
	if !found || len(body) == 0 || body[len(body)-1] != '}' {
		return r, err
	}
	if err := json.Unmarshal(append(head[:len(head):len(head)], '}'), &r); err != nil {
		return r, err
	}
	r.Response, _ = jsonvalue.AppendJSON(nil, string(body[:len(body)-1]))
	return r, nil
}
