package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"punctual/senders"
	"punctual/senders/leadconnector"
	"punctual/senders/mateo"
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
	// Body is the provider request's body, without the time field.
	Body json.RawMessage `json:"body"`
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

// MateoSender is what a worker needs of a Mateo client.
type MateoSender interface {
	SendMessage(ctx context.Context, token string, req *mateo.SendMessageRequest) (*senders.Response[mateo.SendMessageResponse], error)
	UpdateConversation(ctx context.Context, token string, u *mateo.ConversationUpdate) (*senders.Response[mateo.Conversation], error)
}

// LeadConnectorSender is what a worker needs of a LeadConnector client.
type LeadConnectorSender interface {
	SendMessage(ctx context.Context, token string, req *leadconnector.SendMessageRequest) (*senders.Response[leadconnector.SendMessageResponse], error)
}

var (
	_ MateoSender         = (*mateo.Client)(nil)
	_ LeadConnectorSender = (*leadconnector.Client)(nil)
)

// answer is what a kind's send returns for the result and the log.
type answer struct {
	status int
	body   json.RawMessage
	id     string // the provider's id of the message or conversation
}

// kind is what differs between task types.
type kind struct {
	provider string
	schema   senders.Schema
	// prepare returns the body to send, without its time field, and the
	// due time that field named (zero when none).
	prepare func(e *Envelope) (body []byte, due time.Time, err error)
	// send makes the request.
	send func(ctx context.Context, h *Handler, token string, body []byte) (answer, error)
}

var kinds = map[string]kind{
	TypeMateoSendMessage: {
		provider: senders.Mateo,
		schema:   mateo.SendMessageSchema,
		prepare:  prepareMateoMessage,
		send: func(ctx context.Context, h *Handler, token string, body []byte) (answer, error) {
			var req mateo.SendMessageRequest
			if err := json.Unmarshal(body, &req); err != nil {
				return answer{}, malformed(err)
			}
			r, err := h.Mateo.SendMessage(ctx, token, &req)
			if err != nil {
				return answer{}, err
			}
			return answer{r.StatusCode, r.Body, r.Value.Message.ID}, nil
		},
	},
	TypeMateoUpdateConversation: {
		provider: senders.Mateo,
		schema:   mateo.ConversationUpdateSchema,
		prepare:  func(e *Envelope) ([]byte, time.Time, error) { return e.Payload, time.Time{}, nil },
		send: func(ctx context.Context, h *Handler, token string, body []byte) (answer, error) {
			var u mateo.ConversationUpdate
			if err := json.Unmarshal(body, &u); err != nil {
				return answer{}, malformed(err)
			}
			r, err := h.Mateo.UpdateConversation(ctx, token, &u)
			if err != nil {
				return answer{}, err
			}
			return answer{r.StatusCode, r.Body, r.Value.ID}, nil
		},
	},
	TypeLeadConnectorSendMessage: {
		provider: senders.LeadConnector,
		schema:   leadconnector.SendMessageSchema,
		prepare:  prepareLeadConnectorMessage,
		send: func(ctx context.Context, h *Handler, token string, body []byte) (answer, error) {
			var req leadconnector.SendMessageRequest
			if err := json.Unmarshal(body, &req); err != nil {
				return answer{}, malformed(err)
			}
			r, err := h.LeadConnector.SendMessage(ctx, token, &req)
			if err != nil {
				return answer{}, err
			}
			return answer{r.StatusCode, r.Body, r.Value.MessageID}, nil
		},
	},
}

func malformed(err error) error {
	return fmt.Errorf("malformed task body: %w: %w", senders.ErrInvalidRequest, err)
}

// Namespaces of the ids derived from an envelope's key.
var (
	taskIDSpace    = uuid.MustParse("6f1d3c1e-2b0a-4f6e-9a57-0c8e5b2d7a41")
	messageIDSpace = uuid.MustParse("0b7e4a52-93c1-4d2f-8e6a-5f1c2d3b4a69")
)

// prepareMateoMessage takes send_after out of the body and writes a message
// id into it when it has none: derived from the key when there is one, so
// that the same envelope always names the same message.
func prepareMateoMessage(e *Envelope) ([]byte, time.Time, error) {
	var req mateo.SendMessageRequest
	if err := json.Unmarshal(e.Payload, &req); err != nil {
		return nil, time.Time{}, err
	}
	var due time.Time
	if req.SendAfter.Valid {
		t, err := parseDateTime(req.SendAfter.Value)
		if err != nil {
			return nil, time.Time{}, &senders.FieldError{Path: "payload.send_after", Reason: err.Error()}
		}
		due = t
	}
	req.SendAfter = mateo.N[string]{}
	if !req.ID.Valid {
		id := uuid.New()
		if e.Key != "" {
			id = uuid.NewSHA1(messageIDSpace, []byte(e.account()+"\x00"+e.Key))
		}
		req.ID = senders.Some(id.String())
	}
	body, err := json.Marshal(req)
	return body, due, err
}

// prepareLeadConnectorMessage takes scheduledTimestamp (Unix seconds, UTC)
// out of the body.
func prepareLeadConnectorMessage(e *Envelope) ([]byte, time.Time, error) {
	var req leadconnector.SendMessageRequest
	if err := json.Unmarshal(e.Payload, &req); err != nil {
		return nil, time.Time{}, err
	}
	var due time.Time
	if req.ScheduledTimestamp != "" {
		secs, err := strconv.ParseFloat(req.ScheduledTimestamp.String(), 64)
		if err != nil {
			return nil, time.Time{}, &senders.FieldError{Path: "payload.scheduledTimestamp", Reason: "not a number of seconds"}
		}
		due = time.UnixMilli(int64(secs * 1000)).UTC()
		req.ScheduledTimestamp = ""
	}
	body, err := json.Marshal(req)
	return body, due, err
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
