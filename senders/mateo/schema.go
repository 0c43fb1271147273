package mateo

import (
	"regexp"

	"github.com/punctualhq/punctual/senders"
)

// uuidPattern is Mateo's UUID pattern: stricter than "any UUID", it wants a
// version digit 1-8 and an RFC 4122 variant, or the nil or max UUID.
var uuidPattern = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$`)

// dateTimePattern is Mateo's send_after pattern: a real calendar date, then
// hours and minutes, optional seconds and fraction, and Z or an offset.
var dateTimePattern = regexp.MustCompile(`^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$`)

// anyUUID is the plain 8-4-4-4-12 form, for fields documented as
// string<uuid> without Mateo's pattern.
var anyUUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var (
	uuid         = senders.String{Pattern: uuidPattern, Format: "UUID"}
	nullableUUID = senders.OrNull(uuid)
	nullableText = senders.OrNull(senders.String{})
	textList     = senders.OrNull(senders.Array{Items: senders.String{}})
	statusEnum   = []string{"open", "closed", "archived"}

	recipients = senders.OrNull(senders.Array{Items: senders.Object{Properties: map[string]senders.Schema{
		"handle":                        senders.OrNull(senders.AnyOf{senders.String{}, senders.Array{Items: senders.String{}}}),
		"country_codes":                 senders.Array{Items: senders.String{}},
		"full_name":                     nullableText,
		"contact_id":                    nullableUUID,
		"external_contact_id":           nullableText,
		"secondary_external_contact_id": nullableText,
	}}})
)

// SendMessageSchema is the request schema of POST /send_message.
var SendMessageSchema senders.Schema = senders.Object{
	Required: []string{"from"},
	Properties: map[string]senders.Schema{
		"from":                 uuid,
		"id":                   nullableUUID,
		"conversation_id":      nullableUUID,
		"conversation_status":  senders.OrNull(senders.String{Enum: statusEnum}),
		"to":                   recipients,
		"cc":                   recipients,
		"bcc":                  recipients,
		"subject":              nullableText,
		"html":                 nullableText,
		"text":                 nullableText,
		"content":              senders.OrNull(senders.Object{}),
		"send_after":           senders.OrNull(senders.String{Pattern: dateTimePattern, Format: "date-time"}),
		"placeholder_values":   textList,
		"reply_to_message_id":  nullableUUID,
		"attachments":          textList,
		"template_id":          nullableUUID,
		"review_channel_id":    nullableUUID,
		"marketing_channel_id": nullableUUID,
		"footer":               nullableText,
		"actions": senders.OrNull(senders.Array{Items: senders.Object{
			Required: []string{"text", "type"},
			Properties: map[string]senders.Schema{
				"data":    nullableText,
				"text":    senders.String{},
				"type":    senders.String{Enum: []string{"quick_reply", "call_to_action", "list"}},
				"subtype": senders.OrNull(senders.String{Enum: []string{"url", "phone_number"}}),
			},
		}}),
	},
}

// ConversationUpdateSchema is the payload of mateo:update_conversation: the
// conversation id (the query of PATCH /conversation) and the body fields.
var ConversationUpdateSchema senders.Schema = senders.Object{
	Required: []string{"id"},
	Properties: map[string]senders.Schema{
		"id":          senders.String{Pattern: anyUUID, Format: "UUID"},
		"inbox_id":    senders.String{Pattern: anyUUID, Format: "UUID"},
		"assignee_id": senders.OrNull(senders.String{Pattern: anyUUID, Format: "UUID"}),
		"status":      senders.String{Enum: statusEnum},
	},
}
