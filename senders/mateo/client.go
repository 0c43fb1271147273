package mateo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

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

// New returns a Client for baseURL (DefaultBaseURL for Mateo itself).
func New(baseURL string, opts ...senders.Option) (*Client, error) {
	t, err := senders.NewTransport(senders.Mateo, baseURL, DefaultTimeout, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{t: t}, nil
}

// SendMessage calls POST /send_message. A 409 answer (an *APIError) means
// Mateo already has a message with req.ID.
func (c *Client) SendMessage(ctx context.Context, token string, req *SendMessageRequest) (*senders.Response[SendMessageResponse], error) {
	body, err := senders.Encode(senders.Mateo, OpSendMessage, req)
	if err != nil {
		return nil, err
	}
	return sendMessage[SendMessageResponse](ctx, c, token, body)
}

// SendMessageJSON is SendMessage with the request already encoded, and
// the answer left undecoded (SentMessage reads its message id).
func (c *Client) SendMessageJSON(ctx context.Context, token string, body []byte) (*senders.Response[senders.Undecoded], error) {
	return sendMessage[senders.Undecoded](ctx, c, token, body)
}

func sendMessage[T any](ctx context.Context, c *Client, token string, body []byte) (*senders.Response[T], error) {
	return senders.Call[T](ctx, c.t, OpSendMessage, http.MethodPost, "/send_message", nil, token, body)
}

// UpdateConversation calls PATCH /conversation?id=eq.{id} with the other
// fields of u as the body, and returns the updated conversation. Mateo
// answering with no conversation is an error wrapping senders.ErrNotFound.
func (c *Client) UpdateConversation(ctx context.Context, token string, u *ConversationUpdate) (*senders.Response[Conversation], error) {
	payload, err := senders.Encode(senders.Mateo, OpUpdateConversation, u)
	if err != nil {
		return nil, err
	}
	return c.UpdateConversationJSON(ctx, token, payload)
}

// UpdateConversationJSON is UpdateConversation with the update already
// encoded, its id included.
func (c *Client) UpdateConversationJSON(ctx context.Context, token string, payload []byte) (*senders.Response[Conversation], error) {
	var fields map[string]json.RawMessage
	var id string
	if err := json.Unmarshal(payload, &fields); err != nil || json.Unmarshal(fields["id"], &id) != nil || id == "" {
		return nil, fmt.Errorf("mateo %s: %w: want a JSON object with the conversation id", OpUpdateConversation, senders.ErrInvalidRequest)
	}
	delete(fields, "id")
	body, err := senders.Encode(senders.Mateo, OpUpdateConversation, fields)
	if err != nil {
		return nil, err
	}
	query := url.Values{"id": {"eq." + id}}
	r, err := senders.Call[json.RawMessage](ctx, c.t, OpUpdateConversation, http.MethodPatch, "/conversation", query, token, body)
	if err != nil {
		return nil, err
	}
	out := &senders.Response[Conversation]{StatusCode: r.StatusCode, Header: r.Header, Body: r.Body}
	// PostgREST answers with the object, or with an array of the updated rows.
	data := bytes.TrimSpace(r.Body)
	if len(data) > 0 && data[0] == '[' {
		var rows []Conversation
		_ = json.Unmarshal(data, &rows)
		if len(rows) == 0 && json.Valid(data) {
			return nil, fmt.Errorf("mateo %s: no conversation with id %s: %w", OpUpdateConversation, id, senders.ErrNotFound)
		}
		if len(rows) > 0 {
			out.Value = rows[0]
		}
		return out, nil
	}
	_ = json.Unmarshal(data, &out.Value)
	return out, nil
}
