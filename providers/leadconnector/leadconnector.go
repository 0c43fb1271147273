package leadconnector

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/senders"
)

// DefaultBaseURL is LeadConnector's API.
const DefaultBaseURL = "https://services.leadconnectorhq.com"

// DefaultVersion is the Version header of POST /conversations/messages:
// the only value its published operation allows (apps/conversations.json,
// 2026-05-01), and LEADCONNECTOR_VERSION's default.
const DefaultVersion = "2021-04-15"

// DefaultTimeout bounds a request.
const DefaultTimeout = 15 * time.Second

// OpSendMessage is the operation, as APIError.Operation names it.
const OpSendMessage = "send_message"

// SendMessageRequest is the body of POST /conversations/messages.
type SendMessageRequest struct {
	Type                   string          `json:"type"`
	SubType                json.RawMessage `json:"subType,omitempty"`
	ContactID              string          `json:"contactId"`
	AppointmentID          string          `json:"appointmentId,omitempty"`
	Attachments            []string        `json:"attachments,omitzero"`
	EmailFrom              string          `json:"emailFrom,omitempty"`
	EmailCc                []string        `json:"emailCc,omitzero"`
	EmailBcc               []string        `json:"emailBcc,omitzero"`
	HTML                   string          `json:"html,omitempty"`
	Message                string          `json:"message,omitempty"`
	Subject                string          `json:"subject,omitempty"`
	ReplyMessageID         string          `json:"replyMessageId,omitempty"`
	TemplateID             string          `json:"templateId,omitempty"`
	ThreadID               string          `json:"threadId,omitempty"`
	ScheduledTimestamp     json.Number     `json:"scheduledTimestamp,omitempty"`
	ConversationProviderID string          `json:"conversationProviderId,omitempty"`
	EmailTo                string          `json:"emailTo,omitempty"`
	CustomSubtypeID        string          `json:"customSubtypeId,omitempty"`
	EmailReplyMode         string          `json:"emailReplyMode,omitempty"`
	FromNumber             string          `json:"fromNumber,omitempty"`
	ToNumber               string          `json:"toNumber,omitempty"`
	Forward                *Forward        `json:"forward,omitempty"`
	Status                 string          `json:"status,omitempty"`
	UsesNativeSchedulingAI *bool           `json:"usesNativeSchedulingAi,omitempty"`
	OptimizationPeriod     string          `json:"optimizationPeriod,omitempty"`

	// Extra holds fields this type does not define; they are sent as given.
	Extra providers.Extra `json:"-"`
}

// Forward is the forwarding configuration of an email.
type Forward struct {
	IsForwarded             bool   `json:"isForwarded"`
	ForwardWholeThread      *bool  `json:"forwardWholeThread,omitempty"`
	MessageID               string `json:"messageId,omitempty"`
	EmailMessageID          string `json:"emailMessageId,omitempty"`
	SourceContactID         string `json:"sourceContactId,omitempty"`
	SourceConversationID    string `json:"sourceConversationId,omitempty"`
	ToEmail                 string `json:"toEmail,omitempty"`
	RecipientContactID      string `json:"recipientContactId,omitempty"`
	RecipientConversationID string `json:"recipientConversationId,omitempty"`

	Extra providers.Extra `json:"-"`
}

// TaskType is TypeSendMessage: the producer sends the request as its payload.
func (SendMessageRequest) TaskType() string { return TypeSendMessage }

// MarshalJSON writes the known fields and the Extra ones.
func (r SendMessageRequest) MarshalJSON() ([]byte, error) {
	type plain SendMessageRequest
	return providers.MarshalObject(plain(r), r.Extra)
}

// UnmarshalJSON reads the known fields and keeps the others in Extra.
func (r *SendMessageRequest) UnmarshalJSON(data []byte) error {
	type plain SendMessageRequest
	return providers.UnmarshalObject(data, (*plain)(r), &r.Extra)
}

// MarshalJSON writes the known fields and the Extra ones.
func (f Forward) MarshalJSON() ([]byte, error) {
	type plain Forward
	return providers.MarshalObject(plain(f), f.Extra)
}

// UnmarshalJSON reads the known fields and keeps the others in Extra.
func (f *Forward) UnmarshalJSON(data []byte) error {
	type plain Forward
	return providers.UnmarshalObject(data, (*plain)(f), &f.Extra)
}

// SendMessageResponse is LeadConnector's answer to POST /conversations/messages.
type SendMessageResponse struct {
	ConversationID string `json:"conversationId"`
	// MessageID is the main message id.
	MessageID string `json:"messageId"`
	// MessageIDs replaces MessageID for Google Business Messages.
	MessageIDs []string `json:"messageIds,omitempty"`
	// EmailMessageID is the email's message id, for Email only.
	EmailMessageID string `json:"emailMessageId,omitempty"`
	// Msg is an additional message, for workflow messages.
	Msg         string          `json:"msg,omitempty"`
	Status      string          `json:"status,omitempty"`
	ForwardData json.RawMessage `json:"forwardData,omitempty"`
}

var (
	text     = jsonvalue.String{}
	textList = jsonvalue.Array{Items: jsonvalue.String{}}
)

// SendMessageSchema is the request schema of POST /conversations/messages:
// the documented fields and those of HighLevel's published OpenAPI file.
var SendMessageSchema jsonvalue.Schema = jsonvalue.Object{
	Required: []string{"type", "contactId"},
	Properties: map[string]jsonvalue.Schema{
		"type":                   jsonvalue.String{Enum: []string{"SMS", "RCS", "Email", "WhatsApp", "IG", "FB", "Custom", "Live_Chat", "TIKTOK"}},
		"subType":                jsonvalue.AnyOf{jsonvalue.String{}, jsonvalue.Object{}},
		"contactId":              text,
		"appointmentId":          text,
		"attachments":            textList,
		"emailFrom":              text,
		"emailCc":                textList,
		"emailBcc":               textList,
		"html":                   text,
		"message":                text,
		"subject":                text,
		"replyMessageId":         text,
		"templateId":             text,
		"threadId":               text,
		"scheduledTimestamp":     jsonvalue.Number{},
		"conversationProviderId": text,
		"emailTo":                text,
		"customSubtypeId":        text,
		"emailReplyMode":         jsonvalue.String{Enum: []string{"reply", "reply_all"}},
		"fromNumber":             text,
		"toNumber":               text,
		"status":                 jsonvalue.String{Enum: []string{"delivered", "failed", "pending", "read"}},
		"usesNativeSchedulingAi": jsonvalue.Boolean{},
		"optimizationPeriod":     jsonvalue.String{Enum: []string{"24h", "48h", "72h"}},
		"forward": jsonvalue.Object{
			Required: []string{"isForwarded"},
			Properties: map[string]jsonvalue.Schema{
				"isForwarded":             jsonvalue.Boolean{},
				"forwardWholeThread":      jsonvalue.Boolean{},
				"messageId":               text,
				"emailMessageId":          text,
				"sourceContactId":         text,
				"sourceConversationId":    text,
				"toEmail":                 text,
				"recipientContactId":      text,
				"recipientConversationId": text,
			},
		},
	},
}

// Client calls LeadConnector's API. It is safe for concurrent use.
type Client struct {
	t *senders.Transport
}

// NewTransport returns the transport of LeadConnector's API at baseURL
// (DefaultBaseURL for LeadConnector itself), sending version
// (DefaultVersion when empty) in the Version header, as the worker sends
// through it.
func NewTransport(baseURL, version string, opts ...senders.Option) (*senders.Transport, error) {
	if version == "" {
		version = DefaultVersion
	}
	opts = append([]senders.Option{senders.WithHeader("Version", version)}, opts...)
	return senders.NewTransport(Name, baseURL, DefaultTimeout, opts...)
}

// New returns a Client for baseURL (DefaultBaseURL for LeadConnector
// itself) that sends version (DefaultVersion when empty) in the Version header.
func New(baseURL, version string, opts ...senders.Option) (*Client, error) {
	t, err := NewTransport(baseURL, version, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{t: t}, nil
}

// SendMessage calls POST /conversations/messages.
func (c *Client) SendMessage(ctx context.Context, token string, req *SendMessageRequest) (*senders.Response[SendMessageResponse], error) {
	body, err := senders.Encode(Name, OpSendMessage, req)
	if err != nil {
		return nil, err
	}
	return c.SendMessageJSON(ctx, token, body)
}

// SendMessageJSON is SendMessage with the request already encoded.
func (c *Client) SendMessageJSON(ctx context.Context, token string, body []byte) (*senders.Response[SendMessageResponse], error) {
	return sendMessage[SendMessageResponse](ctx, c.t, token, body)
}

func sendMessage[T any](ctx context.Context, t *senders.Transport, token string, body []byte) (*senders.Response[T], error) {
	return senders.Call[T](ctx, t, OpSendMessage, http.MethodPost, "/conversations/messages", nil, token, body)
}
