package mateo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/senders"
)

// DefaultBaseURL is Mateo's API.
const DefaultBaseURL = "https://integration.getmateo.com/api/v1"

// DefaultTimeout bounds a request: Mateo times requests out at 2 s on its
// side, and the rest is room for the network.
const DefaultTimeout = 5 * time.Second

// Operations, as APIError.Operation names them.
const (
	OpSendMessage        = "send_message"
	OpUpdateConversation = "update_conversation"
)

// Client calls Mateo's API. It is safe for concurrent use.
type Client struct {
	t *senders.Transport
}

// NewTransport returns the transport of Mateo's API at baseURL
// (DefaultBaseURL for Mateo itself), as the worker sends through it.
func NewTransport(baseURL string, opts ...senders.Option) (*senders.Transport, error) {
	return senders.NewTransport(Name, baseURL, DefaultTimeout, opts...)
}

// New returns a Client for baseURL (DefaultBaseURL for Mateo itself).
func New(baseURL string, opts ...senders.Option) (*Client, error) {
	t, err := NewTransport(baseURL, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{t: t}, nil
}

// SendMessage calls POST /send_message. A 409 answer (an *APIError) means
// Mateo already has a message with req.ID.
func (c *Client) SendMessage(ctx context.Context, token string, req *SendMessageRequest) (*senders.Response[SendMessageResponse], error) {
	body, err := senders.Encode(Name, OpSendMessage, req)
	if err != nil {
		return nil, err
	}
	return sendMessage[SendMessageResponse](ctx, c.t, token, body)
}

// SendMessageJSON is SendMessage with the request already encoded, and
// the answer left undecoded (SentMessageIDs reads its ids).
func (c *Client) SendMessageJSON(ctx context.Context, token string, body []byte) (*senders.Response[senders.Undecoded], error) {
	return sendMessage[senders.Undecoded](ctx, c.t, token, body)
}

func sendMessage[T any](ctx context.Context, t *senders.Transport, token string, body []byte) (*senders.Response[T], error) {
	return senders.Call[T](ctx, t, OpSendMessage, http.MethodPost, "/send_message", nil, token, body)
}

// UpdateConversation calls PATCH /conversation?id=eq.{id} with the other
// fields of u as the body, and returns the updated conversation. Mateo
// answering with no conversation is an error wrapping senders.ErrNotFound.
func (c *Client) UpdateConversation(ctx context.Context, token string, u *ConversationUpdate) (*senders.Response[Conversation], error) {
	payload, err := senders.Encode(Name, OpUpdateConversation, u)
	if err != nil {
		return nil, err
	}
	return c.UpdateConversationJSON(ctx, token, payload)
}

// UpdateConversationJSON is UpdateConversation with the update already
// encoded, its id included.
func (c *Client) UpdateConversationJSON(ctx context.Context, token string, payload []byte) (*senders.Response[Conversation], error) {
	r, err := updateConversation(ctx, c.t, token, payload)
	if err != nil {
		return nil, err
	}
	out := &senders.Response[Conversation]{StatusCode: r.StatusCode, Header: r.Header, Body: r.Body, ReadErr: r.ReadErr}
	// PostgREST answers with the object, or with an array of the updated rows.
	if data := bytes.TrimSpace(r.Body); len(data) > 0 && data[0] == '[' {
		var rows []Conversation
		if _ = json.Unmarshal(data, &rows); len(rows) > 0 {
			out.Value = rows[0]
		}
		return out, nil
	}
	_ = json.Unmarshal(r.Body, &out.Value)
	return out, nil
}

// updateConversation sends an update, its id included, and returns the
// answer undecoded. An answer with no conversation (an empty array) is an
// error wrapping senders.ErrNotFound.
func updateConversation(ctx context.Context, t *senders.Transport, token string, payload []byte) (*senders.Response[senders.Undecoded], error) {
	var fields map[string]json.RawMessage
	var id string
	if err := json.Unmarshal(payload, &fields); err != nil || json.Unmarshal(fields["id"], &id) != nil || id == "" {
		return nil, fmt.Errorf("mateo %s: %w: want a JSON object with the conversation id", OpUpdateConversation, senders.ErrInvalidRequest)
	}
	delete(fields, "id")
	body, err := senders.Encode(Name, OpUpdateConversation, fields)
	if err != nil {
		return nil, err
	}
	query := url.Values{"id": {"eq." + id}}
	r, err := senders.Call[senders.Undecoded](ctx, t, OpUpdateConversation, http.MethodPatch, "/conversation", query, token, body)
	if err != nil {
		return nil, err
	}
	if data := bytes.TrimSpace(r.Body); len(data) > 0 && data[0] == '[' {
		var rows []json.RawMessage
		if json.Unmarshal(data, &rows) == nil && len(rows) == 0 {
			return nil, fmt.Errorf("mateo %s: no conversation with id %s: %w", OpUpdateConversation, id, senders.ErrNotFound)
		}
	}
	return r, nil
}

// updatedConversationID returns the id of the conversation in Mateo's
// answer to PATCH /conversation: the object, or the first of the rows.
func updatedConversationID(answer []byte) map[string]string {
	var c struct {
		ID string `json:"id"`
	}
	if data := bytes.TrimSpace(answer); len(data) > 0 && data[0] == '[' {
		var rows []json.RawMessage
		if json.Unmarshal(data, &rows) != nil || len(rows) == 0 {
			return nil
		}
		answer = rows[0]
	}
	_ = json.Unmarshal(answer, &c)
	return providers.IDs("conversation_id", c.ID)
}
