package mateo

import (
	"regexp"

	"github.com/punctualhq/punctual/internal/jsonvalue"
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
	uuidString   = jsonvalue.String{Pattern: uuidPattern, Format: "UUID"}
	nullableUUID = jsonvalue.OrNull(uuidString)
	nullableText = jsonvalue.OrNull(jsonvalue.String{})
	textList     = jsonvalue.OrNull(jsonvalue.Array{Items: jsonvalue.String{}})
	statusEnum   = []string{"open", "closed", "archived"}

	recipients = jsonvalue.OrNull(jsonvalue.Array{Items: jsonvalue.Object{Properties: map[string]jsonvalue.Schema{
		"handle":                        jsonvalue.OrNull(jsonvalue.AnyOf{jsonvalue.String{}, jsonvalue.Array{Items: jsonvalue.String{}}}),
		"country_codes":                 jsonvalue.Array{Items: jsonvalue.String{}},
		"full_name":                     nullableText,
		"contact_id":                    nullableUUID,
		"external_contact_id":           nullableText,
		"secondary_external_contact_id": nullableText,
	}}})
)

// SendMessageSchema is the request schema of POST /send_message.
var SendMessageSchema jsonvalue.Schema = jsonvalue.Object{
	Required: []string{"from"},
	Properties: map[string]jsonvalue.Schema{
		"from":                 uuidString,
		"id":                   nullableUUID,
		"conversation_id":      nullableUUID,
		"conversation_status":  jsonvalue.OrNull(jsonvalue.String{Enum: statusEnum}),
		"to":                   recipients,
		"cc":                   recipients,
		"bcc":                  recipients,
		"subject":              nullableText,
		"html":                 nullableText,
		"text":                 nullableText,
		"content":              jsonvalue.OrNull(jsonvalue.Object{}),
		"send_after":           jsonvalue.OrNull(jsonvalue.String{Pattern: dateTimePattern, Format: "date-time"}),
		"placeholder_values":   textList,
		"reply_to_message_id":  nullableUUID,
		"attachments":          textList,
		"template_id":          nullableUUID,
		"review_channel_id":    nullableUUID,
		"marketing_channel_id": nullableUUID,
		"footer":               nullableText,
		"actions": jsonvalue.OrNull(jsonvalue.Array{Items: jsonvalue.Object{
			Required: []string{"text", "type"},
			Properties: map[string]jsonvalue.Schema{
				"data":    nullableText,
				"text":    jsonvalue.String{},
				"type":    jsonvalue.String{Enum: []string{"quick_reply", "call_to_action", "list"}},
				"subtype": jsonvalue.OrNull(jsonvalue.String{Enum: []string{"url", "phone_number"}}),
			},
		}}),
	},
}

// ConversationUpdateSchema is the payload of mateo:update_conversation: the
// conversation id (the query of PATCH /conversation) and the body fields.
var ConversationUpdateSchema jsonvalue.Schema = jsonvalue.Object{
	Required: []string{"id"},
	Properties: map[string]jsonvalue.Schema{
		"id":          jsonvalue.String{Pattern: anyUUID, Format: "UUID"},
		"inbox_id":    jsonvalue.String{Pattern: anyUUID, Format: "UUID"},
		"assignee_id": jsonvalue.OrNull(jsonvalue.String{Pattern: anyUUID, Format: "UUID"}),
		"status":      jsonvalue.String{Enum: statusEnum},
	},
}
