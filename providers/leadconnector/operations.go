package leadconnector

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/senders"
)

// Name is the provider's name, as task types, accounts, rate limits,
// errors and metrics spell it.
const Name = "leadconnector"

// TypeSendMessage is POST {LEADCONNECTOR_BASE_URL}/conversations/messages:
// a wire format, never renamed.
const TypeSendMessage = Name + ":" + OpSendMessage

// Operations are LeadConnector's task types. It has no idempotency key,
// so no answer means a duplicate.
var Operations = []providers.Operation{{
	Type:       TypeSendMessage,
	Schema:     SendMessageSchema,
	Prepare:    prepareMessage,
	Send:       sendMessage[senders.Undecoded],
	AnswerIDs:  sentMessageIDs,
	Recipients: addresses,
}}

// prepareMessage takes scheduledTimestamp (Unix seconds, UTC) out of the
// payload.
func prepareMessage(d *providers.Draft) (time.Time, error) {
	n, ok := d.Body["scheduledTimestamp"].(json.Number)
	if !ok {
		return time.Time{}, nil
	}
	secs, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.IsInf(secs, 0) || math.Abs(secs) > 1e11 {
		return time.Time{}, &jsonvalue.FieldError{Path: "payload.scheduledTimestamp", Reason: "not a Unix time in seconds: " + n.String()}
	}
	delete(d.Body, "scheduledTimestamp")
	return time.UnixMilli(int64(secs * 1000)).UTC(), nil
}

// sentMessageIDs returns the message and conversation ids of
// LeadConnector's answer to POST /conversations/messages.
func sentMessageIDs(answer []byte) map[string]string {
	var r SendMessageResponse
	_ = json.Unmarshal(answer, &r)
	return providers.IDs("messageId", r.MessageID, "conversationId", r.ConversationID)
}
