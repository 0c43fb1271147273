package mateo

import (
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/senders"
)

// Name is the provider's name, as task types, accounts, rate limits,
// errors and metrics spell it.
const Name = "mateo"

// Task types: a wire format, never renamed.
const (
	// TypeSendMessage is POST {MATEO_BASE_URL}/send_message.
	TypeSendMessage = Name + ":" + OpSendMessage
	// TypeUpdateConversation is PATCH {MATEO_BASE_URL}/conversation?id=eq.{id}.
	TypeUpdateConversation = Name + ":" + OpUpdateConversation
)

// Operations are Mateo's task types.
var Operations = []providers.Operation{
	{
		Type:      TypeSendMessage,
		Schema:    SendMessageSchema,
		Prepare:   prepareMessage,
		Send:      sendMessage[senders.Undecoded],
		AnswerIDs: SentMessageIDs,
		// The message id is written before the task is enqueued: a 409 for
		// it is the message a try whose answer was lost already sent.
		Duplicate:  func(e *senders.APIError) bool { return e.StatusCode == http.StatusConflict },
		Recipients: addresses,
	},
	{
		Type:      TypeUpdateConversation,
		Schema:    ConversationUpdateSchema,
		Send:      updateConversation,
		AnswerIDs: updatedConversationID,
	},
}

// messageIDSpace is the namespace of the message ids derived from keys.
var messageIDSpace = uuid.MustParse("0b7e4a52-93c1-4d2f-8e6a-5f1c2d3b4a69")

// prepareMessage takes send_after out of the payload and writes a message
// id into it when it has none: derived from the key when there is one, so
// that the same envelope always names the same message.
func prepareMessage(d *providers.Draft) (time.Time, error) {
	var due time.Time
	if s, ok := d.Body["send_after"].(string); ok {
		t, err := parseDateTime(s)
		if err != nil {
			return time.Time{}, &jsonvalue.FieldError{Path: "payload.send_after", Reason: err.Error()}
		}
		due = t
	}
	delete(d.Body, "send_after")
	if d.Body["id"] == nil {
		id := uuid.New()
		if d.Key != "" {
			id = uuid.NewSHA1(messageIDSpace, []byte(d.Account+"\x00"+d.Key))
		}
		d.Body["id"] = id.String()
	}
	return due, nil
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
