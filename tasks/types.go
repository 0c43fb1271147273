package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/senders/leadconnector"
	"github.com/punctualhq/punctual/senders/mateo"
)

// Task types: a wire format, never renamed.
const (
	// TypeMateoSendMessage is POST {MATEO_BASE_URL}/send_message.
	TypeMateoSendMessage = "mateo:send_message"
	// TypeMateoUpdateConversation is PATCH {MATEO_BASE_URL}/conversation?id=eq.{id}.
	TypeMateoUpdateConversation = "mateo:update_conversation"
	// TypeLeadConnectorSendMessage is POST {LEADCONNECTOR_BASE_URL}/conversations/messages.
	TypeLeadConnectorSendMessage = "leadconnector:send_message"
)

// Types lists every task type, in the order the documentation gives them.
var Types = []string{TypeMateoSendMessage, TypeMateoUpdateConversation, TypeLeadConnectorSendMessage}

// Payload is the asynq payload of every task type: a wire format.
type Payload struct {
	// Account names the credential the worker sends with; never the token.
	Account string `json:"account"`
	// Due is the time before which the send must not start.
	Due time.Time `json:"due,omitzero"`
	// ExpiresAt is the time after which the send is no longer attempted.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Claim names the task's claim on its key (State.Claim), for a key a
	// producer chose: a cancel frees the key only while this claim holds it.
	Claim string `json:"claim,omitempty"`
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

// appendJSON appends r as encoding/json writes it, without its reflection
// or a scan of the response (a result is written per send): a response
// that looks like JSON (an object or an array) goes as it came, any other
// as a JSON string. DecodeResult reads a response that only looked like
// JSON as a string.
func (r Result) appendJSON(b []byte) []byte {
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

// MateoSender is what a worker needs of a Mateo client.
type MateoSender interface {
	SendMessageJSON(ctx context.Context, token string, body []byte) (*senders.Response[senders.Undecoded], error)
	UpdateConversationJSON(ctx context.Context, token string, payload []byte) (*senders.Response[mateo.Conversation], error)
}

// LeadConnectorSender is what a worker needs of a LeadConnector client.
type LeadConnectorSender interface {
	SendMessageJSON(ctx context.Context, token string, body []byte) (*senders.Response[leadconnector.SendMessageResponse], error)
}

var (
	_ MateoSender         = (*mateo.Client)(nil)
	_ LeadConnectorSender = (*leadconnector.Client)(nil)
)

// answer is what a kind's send returns for the result and the log.
type answer struct {
	status int
	body   json.RawMessage
	// id returns the provider's id of the message or conversation, read
	// from the answer only when a log line asks for it.
	id func() string
	// readErr cut the body of a 2xx answer short: the send happened.
	readErr error
}

// kind is what differs between task types.
type kind struct {
	provider string
	schema   jsonvalue.Schema
	// prepare takes the time field out of a validated payload and returns
	// the due time it named (zero when none).
	prepare func(e *Envelope, payload map[string]any) (due time.Time, err error)
	// send makes the request.
	send func(ctx context.Context, h *Handler, token string, body []byte) (answer, error)
}

var kinds = map[string]kind{
	TypeMateoSendMessage: {
		provider: senders.Mateo,
		schema:   mateo.SendMessageSchema,
		prepare:  prepareMateoMessage,
		send: func(ctx context.Context, h *Handler, token string, body []byte) (answer, error) {
			r, err := h.Mateo.SendMessageJSON(ctx, token, body)
			if err != nil {
				return answer{}, err
			}
			return answer{r.StatusCode, r.Body, func() string { return mateo.SentMessageID(r.Body) }, r.ReadErr}, nil
		},
	},
	TypeMateoUpdateConversation: {
		provider: senders.Mateo,
		schema:   mateo.ConversationUpdateSchema,
		prepare:  func(*Envelope, map[string]any) (time.Time, error) { return time.Time{}, nil },
		send: func(ctx context.Context, h *Handler, token string, body []byte) (answer, error) {
			r, err := h.Mateo.UpdateConversationJSON(ctx, token, body)
			if err != nil {
				return answer{}, err
			}
			return answer{r.StatusCode, r.Body, func() string { return r.Value.ID }, r.ReadErr}, nil
		},
	},
	TypeLeadConnectorSendMessage: {
		provider: senders.LeadConnector,
		schema:   leadconnector.SendMessageSchema,
		prepare:  prepareLeadConnectorMessage,
		send: func(ctx context.Context, h *Handler, token string, body []byte) (answer, error) {
			r, err := h.LeadConnector.SendMessageJSON(ctx, token, body)
			if err != nil {
				return answer{}, err
			}
			return answer{r.StatusCode, r.Body, func() string { return r.Value.MessageID }, r.ReadErr}, nil
		},
	},
}

// Namespaces of the ids derived from an envelope's key.
var (
	taskIDSpace    = uuid.MustParse("6f1d3c1e-2b0a-4f6e-9a57-0c8e5b2d7a41")
	messageIDSpace = uuid.MustParse("0b7e4a52-93c1-4d2f-8e6a-5f1c2d3b4a69")
)

// prepareMateoMessage takes send_after out of the payload and writes a
// message id into it when it has none: derived from the key when there is
// one, so that the same envelope always names the same message.
func prepareMateoMessage(e *Envelope, payload map[string]any) (time.Time, error) {
	var due time.Time
	if s, ok := payload["send_after"].(string); ok {
		t, err := parseDateTime(s)
		if err != nil {
			return time.Time{}, &jsonvalue.FieldError{Path: "payload.send_after", Reason: err.Error()}
		}
		due = t
	}
	delete(payload, "send_after")
	if payload["id"] == nil {
		id := uuid.New()
		if e.Key != "" {
			id = uuid.NewSHA1(messageIDSpace, []byte(e.account()+"\x00"+e.Key))
		}
		payload["id"] = id.String()
	}
	return due, nil
}

// prepareLeadConnectorMessage takes scheduledTimestamp (Unix seconds, UTC)
// out of the payload.
func prepareLeadConnectorMessage(_ *Envelope, payload map[string]any) (time.Time, error) {
	n, ok := payload["scheduledTimestamp"].(json.Number)
	if !ok {
		return time.Time{}, nil
	}
	secs, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.IsInf(secs, 0) || math.Abs(secs) > 1e11 {
		return time.Time{}, &jsonvalue.FieldError{Path: "payload.scheduledTimestamp", Reason: "not a Unix time in seconds: " + n.String()}
	}
	delete(payload, "scheduledTimestamp")
	return time.UnixMilli(int64(secs * 1000)).UTC(), nil
}

// parseDateTime reads a time in the forms Mateo's date-time pattern allows:
// RFC 3339, with the seconds optional.
func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not an RFC 3339 time: %q", s)
}
