package mateo

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/punctualhq/punctual/providers"
)

// N is a field that may be absent, null or set.
type N[T any] = providers.Nullable[T]

// Value returns a field set to v.
func Value[T any](v T) N[T] { return providers.Some(v) }

// Null returns a field sent as null: for AssigneeID, it unassigns.
func Null[T any]() N[T] { return providers.Null[T]() }

// RecipientHandle is a recipient's address, or several, as Mateo takes
// them: a string, or an array of strings.
type RecipientHandle struct {
	list []string
	many bool
}

// Handle returns one address: an email address, a phone number, a user name.
func Handle(h string) RecipientHandle { return RecipientHandle{list: []string{h}} }

// Handles returns several addresses of one recipient.
func Handles(hs ...string) RecipientHandle { return RecipientHandle{list: hs, many: true} }

// Strings returns the addresses.
func (h RecipientHandle) Strings() []string { return h.list }

// IsZero reports whether no handle was given; `omitzero` uses it.
func (h RecipientHandle) IsZero() bool { return h.list == nil && !h.many }

// MarshalJSON writes a string for Handle and an array for Handles.
func (h RecipientHandle) MarshalJSON() ([]byte, error) {
	if h.many {
		return json.Marshal(h.list)
	}
	if len(h.list) == 0 {
		return []byte("null"), nil
	}
	return json.Marshal(h.list[0])
}

// UnmarshalJSON reads a string, an array of strings or null.
func (h *RecipientHandle) UnmarshalJSON(data []byte) error {
	*h = RecipientHandle{}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil
	}
	var one string
	if json.Unmarshal(data, &one) == nil {
		*h = Handle(one)
		return nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("a handle is a string or an array of strings: %w", err)
	}
	*h = Handles(list...)
	return nil
}

// SendMessageRequest is the body of POST /send_message. Fields whose
// absence and null mean the same to Mateo are plain Go, left out when
// empty; the others are N, set with Value or Null: a null given is sent
// as null.
type SendMessageRequest struct {
	From               string             `json:"from"`
	ID                 N[string]          `json:"id,omitzero"`
	ConversationID     N[string]          `json:"conversation_id,omitzero"`
	ConversationStatus N[string]          `json:"conversation_status,omitzero"`
	To                 []Recipient        `json:"to,omitempty"`
	Cc                 []Recipient        `json:"cc,omitempty"`
	Bcc                []Recipient        `json:"bcc,omitempty"`
	Subject            string             `json:"subject,omitempty"`
	HTML               string             `json:"html,omitempty"`
	Text               string             `json:"text,omitempty"`
	Content            N[json.RawMessage] `json:"content,omitzero"`
	SendAfter          N[string]          `json:"send_after,omitzero"`
	PlaceholderValues  N[[]string]        `json:"placeholder_values,omitzero"`
	ReplyToMessageID   N[string]          `json:"reply_to_message_id,omitzero"`
	Attachments        N[[]string]        `json:"attachments,omitzero"`
	TemplateID         N[string]          `json:"template_id,omitzero"`
	ReviewChannelID    N[string]          `json:"review_channel_id,omitzero"`
	MarketingChannelID N[string]          `json:"marketing_channel_id,omitzero"`
	Actions            N[[]Action]        `json:"actions,omitzero"`
	Footer             string             `json:"footer,omitempty"`

	// Extra holds fields this type does not define; they are sent as given.
	Extra providers.Extra `json:"-"`
}

// Recipient is a to, cc or bcc recipient. A postal recipient has ContactID
// and no Handle (Mateo enforces it: it knows the channel's type).
type Recipient struct {
	// Handle is an address, or several: Handle("ana@example.com"),
	// Handles(a, b).
	Handle                     RecipientHandle `json:"handle,omitzero"`
	CountryCodes               []string        `json:"country_codes,omitzero"`
	FullName                   string          `json:"full_name,omitempty"`
	ContactID                  string          `json:"contact_id,omitempty"`
	ExternalContactID          string          `json:"external_contact_id,omitempty"`
	SecondaryExternalContactID string          `json:"secondary_external_contact_id,omitempty"`

	Extra providers.Extra `json:"-"`
}

// Action is a button of a message: a quick reply, a call to action or a list.
type Action struct {
	Data    N[string] `json:"data,omitzero"`
	Text    string    `json:"text"`
	Type    string    `json:"type"`
	Subtype N[string] `json:"subtype,omitzero"`

	Extra providers.Extra `json:"-"`
}

// ConversationUpdate is the payload of mateo:update_conversation: ID goes
// into the query, the other fields into the body of PATCH /conversation.
type ConversationUpdate struct {
	ID         string    `json:"id"`
	InboxID    string    `json:"inbox_id,omitempty"`
	AssigneeID N[string] `json:"assignee_id,omitzero"`
	Status     string    `json:"status,omitempty"`

	Extra providers.Extra `json:"-"`
}

// TaskType is TypeSendMessage: the producer sends the request as its payload.
func (SendMessageRequest) TaskType() string { return TypeSendMessage }

// TaskType is TypeUpdateConversation: the producer sends the update as its payload.
func (ConversationUpdate) TaskType() string { return TypeUpdateConversation }

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
func (r Recipient) MarshalJSON() ([]byte, error) {
	type plain Recipient
	return providers.MarshalObject(plain(r), r.Extra)
}

// UnmarshalJSON reads the known fields and keeps the others in Extra.
func (r *Recipient) UnmarshalJSON(data []byte) error {
	type plain Recipient
	return providers.UnmarshalObject(data, (*plain)(r), &r.Extra)
}

// MarshalJSON writes the known fields and the Extra ones.
func (a Action) MarshalJSON() ([]byte, error) {
	type plain Action
	return providers.MarshalObject(plain(a), a.Extra)
}

// UnmarshalJSON reads the known fields and keeps the others in Extra.
func (a *Action) UnmarshalJSON(data []byte) error {
	type plain Action
	return providers.UnmarshalObject(data, (*plain)(a), &a.Extra)
}

// MarshalJSON writes the known fields and the Extra ones.
func (u ConversationUpdate) MarshalJSON() ([]byte, error) {
	type plain ConversationUpdate
	return providers.MarshalObject(plain(u), u.Extra)
}

// UnmarshalJSON reads the known fields and keeps the others in Extra.
func (u *ConversationUpdate) UnmarshalJSON(data []byte) error {
	type plain ConversationUpdate
	return providers.UnmarshalObject(data, (*plain)(u), &u.Extra)
}

// SendMessageResponse is Mateo's answer to POST /send_message.
type SendMessageResponse struct {
	Conversation Conversation        `json:"conversation"`
	Message      Message             `json:"message"`
	Recipients   []RecipientResponse `json:"recipients"`
	Actions      []ActionResponse    `json:"actions"`
}

// SentMessageIDs returns the message and conversation ids in Mateo's
// answer to POST /send_message. Decoding only them costs a fraction of
// decoding the whole answer.
func SentMessageIDs(answer []byte) map[string]string {
	var sent struct {
		Message struct {
			ID             string `json:"id"`
			ConversationID string `json:"conversation_id"`
		} `json:"message"`
	}
	_ = json.Unmarshal(answer, &sent)
	return providers.IDs("message_id", sent.Message.ID, "conversation_id", sent.Message.ConversationID)
}

// Conversation is Mateo's conversation object.
type Conversation struct {
	ID                            string            `json:"id"`
	CreatedAt                     string            `json:"created_at"`
	UpdatedAt                     string            `json:"updated_at"`
	OrganisationID                string            `json:"organisation_id"`
	Subject                       *string           `json:"subject"`
	AssigneeID                    *string           `json:"assignee_id"`
	Unread                        *bool             `json:"unread"`
	ChannelID                     string            `json:"channel_id"`
	ContactID                     *string           `json:"contact_id"`
	ExternalID                    *string           `json:"external_id"`
	IsSpam                        bool              `json:"is_spam"`
	InboxID                       string            `json:"inbox_id"`
	LatestMessageID               *string           `json:"latest_message_id"`
	LatestInboundMessageID        *string           `json:"latest_inbound_message_id"`
	LatestMessageCreatedAt        *string           `json:"latest_message_created_at"`
	LatestInboundMessageCreatedAt *string           `json:"latest_inbound_message_created_at"`
	Tags                          json.RawMessage   `json:"tags"`
	Files                         []json.RawMessage `json:"files"`
	ChannelType                   string            `json:"channel_type"`
	Status                        string            `json:"status"`
}

// Message is Mateo's message object.
type Message struct {
	ID                   string          `json:"id"`
	CreatedAt            string          `json:"created_at"`
	UpdatedAt            string          `json:"updated_at"`
	OrganisationID       string          `json:"organisation_id"`
	ConversationID       string          `json:"conversation_id"`
	IsInbound            bool            `json:"is_inbound"`
	Subject              *string         `json:"subject"`
	Blurb                *string         `json:"blurb"`
	AuthorID             *string         `json:"author_id"`
	Content              json.RawMessage `json:"content"`
	RawContent           *string         `json:"raw_content"`
	Status               string          `json:"status"`
	AttachmentCount      *float64        `json:"attachment_count"`
	ReplyToMessageID     *string         `json:"reply_to_message_id"`
	ExternalFiles        json.RawMessage `json:"external_files"`
	ExternalID           *string         `json:"external_id"`
	TemplateID           *string         `json:"template_id"`
	ReviewChannelID      *string         `json:"review_channel_id"`
	AuthorType           *string         `json:"author_type"`
	Forwarded            *bool           `json:"forwarded"`
	ForwardedMessageText *string         `json:"forwarded_message_text"`
	SendAfter            *string         `json:"send_after"`
	Footer               *string         `json:"footer"`
	SendoutID            *string         `json:"sendout_id"`
	CampaignID           *string         `json:"campaign_id"`
	SentAt               *string         `json:"sent_at"`
	Timestamp            *string         `json:"timestamp"`
	Location             json.RawMessage `json:"location"`
	LocationMetadata     json.RawMessage `json:"location_metadata"`
	Contacts             json.RawMessage `json:"contacts"`
	Files                json.RawMessage `json:"files"`
	HeaderMediaFilename  *string         `json:"header_media_filename"`
}

// RecipientResponse is a recipient of a sent message, with its delivery status.
type RecipientResponse struct {
	ID             string  `json:"id"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
	OrganisationID string  `json:"organisation_id"`
	ConversationID string  `json:"conversation_id"`
	MessageID      string  `json:"message_id"`
	ContactID      *string `json:"contact_id"`
	Handle         string  `json:"handle"`
	FullName       *string `json:"full_name"`
	IsOrganisation *bool   `json:"is_organisation"`
	Role           string  `json:"role"`
	Status         string  `json:"status"`
}

// ActionResponse is an action of a sent message.
type ActionResponse struct {
	ID             string  `json:"id"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
	OrganisationID string  `json:"organisation_id"`
	ConversationID string  `json:"conversation_id"`
	MessageID      string  `json:"message_id"`
	Text           string  `json:"text"`
	Data           *string `json:"data"`
	Clicked        bool    `json:"clicked"`
	Type           string  `json:"type"`
	Subtype        string  `json:"subtype"`
}
