package mateo_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/internal/sendertest"
	"github.com/punctualhq/punctual/providers/mateo"
)

// channel is the UUID of the seeds' examples: version 4, variant 8.
const channel = "3c90c3cc-0d44-4b50-8888-8dd25736052a"

// message returns a send_message payload from channel with fields added.
func message(fields string) string {
	if fields == "" {
		return `{"from":"` + channel + `"}`
	}
	return `{"from":"` + channel + `",` + fields + `}`
}

type schemaCase struct {
	name string
	json string
	want []string
}

func runSchema(t *testing.T, schema jsonvalue.Schema, tests []schemaCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := jsonvalue.Validate(schema, "payload", []byte(tt.json))
			if got := sendertest.Problems(err); !slices.Equal(got, tt.want) {
				t.Errorf("Validate(%s)\n got: %q\nwant: %q", tt.json, got, tt.want)
			}
		})
	}
}

func TestSendMessageSchemaSeedExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/send_message_request.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonvalue.Validate(mateo.SendMessageSchema, "payload", data); err != nil {
		t.Errorf("the seed's request example does not validate: %v", err)
	}
}

func TestSendMessageSchemaFrom(t *testing.T) {
	t.Parallel()
	valid := []string{
		channel,
		"c232ab00-9414-11ec-b3c8-9f6bdeced846", // version 1, variant b
		"01890a5d-ac96-774b-9cce-b302099a8057", // version 7, variant 9
		"3c90c3cc-0d44-8b50-a888-8dd25736052a", // version 8, variant a
		"3C90C3CC-0D44-4B50-B888-8DD25736052A", // upper case, variant B
		"00000000-0000-0000-0000-000000000000", // nil
		"ffffffff-ffff-ffff-ffff-ffffffffffff", // max
	}
	invalid := []string{
		"3c90c3cc-0d44-0b50-8888-8dd25736052a", // version 0
		"3c90c3cc-0d44-9b50-8888-8dd25736052a", // version 9
		"3c90c3cc-0d44-4b50-c888-8dd25736052a", // variant c
		"3c90c3cc-0d44-4b50-7888-8dd25736052a", // variant 7
		"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", // Mateo's pattern spells max in lower case
		"00000000-0000-0000-0000-000000000001",
		"3c90c3cc0d444b5088888dd25736052a",
		"{3c90c3cc-0d44-4b50-8888-8dd25736052a}",
		"3c90c3cc-0d44-4b50-8888-8dd25736052a\n",
		"3c90c3cc-0d44-4b50-8888-8dd25736052",
		"3g90c3cc-0d44-4b50-8888-8dd25736052a",
		"42",
		"",
	}
	var tests []schemaCase
	for _, id := range valid {
		tests = append(tests, schemaCase{"valid " + id, `{"from":"` + id + `"}`, nil})
	}
	for _, id := range invalid {
		tests = append(tests, schemaCase{fmt.Sprintf("invalid %q", id), fmt.Sprintf(`{"from":%q}`, id),
			[]string{fmt.Sprintf("payload.from: not a UUID: %q", id)}})
	}
	tests = append(tests,
		schemaCase{"absent", `{"text":"Hi"}`, []string{"payload.from: required"}},
		schemaCase{"null", `{"from":null}`, []string{"payload.from: must be a string, got null"}},
		schemaCase{"number", `{"from":42}`, []string{"payload.from: must be a string, got a number"}},
	)
	runSchema(t, mateo.SendMessageSchema, tests)
}

func TestSendMessageSchemaNullable(t *testing.T) {
	t.Parallel()
	// Each field the seed documents as "anyOf [..., null]", with the types it
	// accepts besides null.
	fields := []struct{ path, accepts string }{
		{"id", "a string"},
		{"conversation_id", "a string"},
		{"conversation_status", "a string"},
		{"to", "an array"},
		{"cc", "an array"},
		{"bcc", "an array"},
		{"subject", "a string"},
		{"html", "a string"},
		{"text", "a string"},
		{"content", "an object"},
		{"send_after", "a string"},
		{"placeholder_values", "an array"},
		{"reply_to_message_id", "a string"},
		{"attachments", "an array"},
		{"template_id", "a string"},
		{"review_channel_id", "a string"},
		{"marketing_channel_id", "a string"},
		{"footer", "a string"},
		{"actions", "an array"},
		{"to[0].handle", "a string or an array"},
		{"to[0].full_name", "a string"},
		{"to[0].contact_id", "a string"},
		{"to[0].external_contact_id", "a string"},
		{"cc[0].secondary_external_contact_id", "a string"},
		{"bcc[0].contact_id", "a string"},
		{"actions[0].data", "a string"},
		{"actions[0].subtype", "a string"},
	}
	var tests []schemaCase
	for _, f := range fields {
		tests = append(tests,
			schemaCase{f.path + " null", message(at(f.path, "null")), nil},
			schemaCase{f.path + " boolean", message(at(f.path, "true")),
				[]string{"payload." + f.path + ": must be " + f.accepts + " or null, got a boolean"}},
		)
	}
	runSchema(t, mateo.SendMessageSchema, tests)
}

// at returns the member of a send_message payload that sets path, a field
// or "list[0].field" of a recipient list or actions, to value. An action
// gets the text and type it requires.
func at(path, value string) string {
	list, field, nested := strings.Cut(path, "[0].")
	switch {
	case !nested:
		return fmt.Sprintf("%q:%s", path, value)
	case list == "actions":
		return fmt.Sprintf(`"actions":[{"text":"Yes","type":"quick_reply",%q:%s}]`, field, value)
	default:
		return fmt.Sprintf(`%q:[{%q:%s}]`, list, field, value)
	}
}

func TestSendMessageSchemaRules(t *testing.T) {
	t.Parallel()
	runSchema(t, mateo.SendMessageSchema, []schemaCase{
		{"minimal", message(""), nil},
		{"the envelope's example", message(`"to":[{"handle":"ana@example.com"}],"text":"Hi"`), nil},

		{"not null: country_codes", message(`"to":[{"handle":"+4915112345678","country_codes":null}]`),
			[]string{"payload.to[0].country_codes: must be an array, got null"}},
		{"country_codes", message(`"to":[{"handle":"015112345678","country_codes":["DE","AT"]}]`), nil},
		{"country_codes item", message(`"to":[{"country_codes":["DE",49]}]`),
			[]string{"payload.to[0].country_codes[1]: must be a string, got a number"}},
		{"not null: action text", message(`"actions":[{"text":null,"type":"list"}]`),
			[]string{"payload.actions[0].text: must be a string, got null"}},
		{"not null: action type", message(`"actions":[{"text":"Menu","type":null}]`),
			[]string{"payload.actions[0].type: must be a string, got null"}},
		{"required: action text and type", message(`"actions":[{"data":"x"}]`),
			[]string{"payload.actions[0].text: required", "payload.actions[0].type: required"}},

		{"UUID: to contact_id", message(`"to":[{"handle":"a"},{"handle":"b"},{"contact_id":"42"}]`),
			[]string{`payload.to[2].contact_id: not a UUID: "42"`}},
		{"UUID: id", message(`"id":"3c90c3cc-0d44-0b50-8888-8dd25736052a"`),
			[]string{`payload.id: not a UUID: "3c90c3cc-0d44-0b50-8888-8dd25736052a"`}},
		{"UUID: conversation_id", message(`"conversation_id":"abc"`), []string{`payload.conversation_id: not a UUID: "abc"`}},
		{"UUID: reply_to_message_id", message(`"reply_to_message_id":"abc"`), []string{`payload.reply_to_message_id: not a UUID: "abc"`}},
		{"UUID: template_id", message(`"template_id":"abc"`), []string{`payload.template_id: not a UUID: "abc"`}},
		{"UUID: review_channel_id", message(`"review_channel_id":"abc"`), []string{`payload.review_channel_id: not a UUID: "abc"`}},
		{"UUID: marketing_channel_id", message(`"marketing_channel_id":"abc"`), []string{`payload.marketing_channel_id: not a UUID: "abc"`}},
		{"UUID: bcc contact_id variant c", message(`"bcc":[{"contact_id":"3c90c3cc-0d44-4b50-c888-8dd25736052a"}]`),
			[]string{`payload.bcc[0].contact_id: not a UUID: "3c90c3cc-0d44-4b50-c888-8dd25736052a"`}},
		{"UUIDs valid", message(`"id":"ffffffff-ffff-ffff-ffff-ffffffffffff","conversation_id":"00000000-0000-0000-0000-000000000000","to":[{"contact_id":"` + channel + `"}]`), nil},

		{"enum: conversation_status open", message(`"conversation_status":"open"`), nil},
		{"enum: conversation_status closed", message(`"conversation_status":"closed"`), nil},
		{"enum: conversation_status archived", message(`"conversation_status":"archived"`), nil},
		{"enum: conversation_status pending", message(`"conversation_status":"pending"`),
			[]string{`payload.conversation_status: must be one of open, closed, archived: "pending"`}},
		{"enum: conversation_status Open", message(`"conversation_status":"Open"`),
			[]string{`payload.conversation_status: must be one of open, closed, archived: "Open"`}},
		{"enum: action types", message(`"actions":[{"text":"a","type":"quick_reply"},{"text":"b","type":"call_to_action","subtype":"url","data":"https://example.com"},{"text":"c","type":"list"}]`), nil},
		{"enum: action type", message(`"actions":[{"text":"a","type":"button"}]`),
			[]string{`payload.actions[0].type: must be one of quick_reply, call_to_action, list: "button"`}},
		{"enum: action subtype phone_number", message(`"actions":[{"text":"Call us","type":"call_to_action","subtype":"phone_number","data":"+4930123456"}]`), nil},
		{"enum: action subtype", message(`"actions":[{"text":"a","type":"call_to_action","subtype":"email"}]`),
			[]string{`payload.actions[0].subtype: must be one of url, phone_number: "email"`}},

		{"handle: string", message(`"to":[{"handle":"ana@example.com"}]`), nil},
		{"handle: array of strings", message(`"to":[{"handle":["ana@example.com","+4915112345678"]}]`), nil},
		{"handle: empty array", message(`"to":[{"handle":[]}]`), nil},
		{"handle: number", message(`"to":[{"handle":42}]`),
			[]string{"payload.to[0].handle: must be a string or an array or null, got a number"}},
		{"handle: object", message(`"cc":[{"handle":{"email":"ana@example.com"}}]`),
			[]string{"payload.cc[0].handle: must be a string or an array or null, got an object"}},
		{"handle: array with a number", message(`"to":[{"handle":["ana@example.com",42]}]`),
			[]string{"payload.to[0].handle[1]: must be a string, got a number"}},

		{"content: object", message(`"content":{"type":"doc","content":[{"type":"paragraph"}]}`), nil},
		{"content: array", message(`"content":[]`), []string{"payload.content: must be an object or null, got an array"}},
		{"to: object", message(`"to":{"handle":"ana@example.com"}`), []string{"payload.to: must be an array or null, got an object"}},
		{"to: item a string", message(`"to":["ana@example.com"]`), []string{"payload.to[0]: must be an object, got a string"}},
		{"to: full_name number", message(`"to":[{"handle":"a","full_name":7}]`), []string{"payload.to[0].full_name: must be a string or null, got a number"}},
		{"action text number", message(`"actions":[{"text":1,"type":"list"}]`), []string{"payload.actions[0].text: must be a string, got a number"}},
		{"subject number", message(`"subject":1`), []string{"payload.subject: must be a string or null, got a number"}},
		{"placeholder_values item", message(`"placeholder_values":["Ana",3]`), []string{"payload.placeholder_values[1]: must be a string, got a number"}},
		{"attachments item", message(`"attachments":[null]`), []string{"payload.attachments[0]: must be a string, got null"}},

		{"unknown fields", message(`"priority":5,"metadata":{"a":[1,null]},"to":[{"handle":"a","nickname":"Ana"}],"actions":[{"text":"a","type":"list","color":"red"}],"content":{"anything":[1]}`), nil},
		{"several problems", `{"to":[{"contact_id":"42"}],"subject":1,"conversation_status":"done"}`, []string{
			"payload.from: required",
			`payload.conversation_status: must be one of open, closed, archived: "done"`,
			"payload.subject: must be a string or null, got a number",
			`payload.to[0].contact_id: not a UUID: "42"`,
		}},
		{"not an object", `["` + channel + `"]`, []string{"payload: must be an object, got an array"}},
	})
}

func TestSendMessageSchemaSendAfter(t *testing.T) {
	t.Parallel()
	valid := []string{
		"2023-11-07T05:31:56Z",
		"2024-02-29T10:00+01:00", // seconds are optional
		"2023-11-07T05:31:56.5Z",
		"2023-11-07T05:31:56.123456789-05:30",
		"2000-02-29T00:00:00Z", // divisible by 400
		"2023-12-31T23:59:59+23:59",
		"2023-04-30T00:00Z",
		"2023-01-31T12:00:00-00:00",
	}
	invalid := []string{
		"2023-02-29T10:00:00Z", // not a leap year
		"1900-02-29T10:00:00Z", // divisible by 100, not by 400
		"2023-04-31T10:00:00Z",
		"2023-13-01T10:00:00Z",
		"2023-11-07 05:31:56Z",
		"2023-11-07T05:31:56", // no offset
		"2023-11-07T05:31",
		"2023-11-07",
		"2023-11-07T24:00:00Z",
		"2023-11-07T05:60:00Z",
		"2023-11-07T05:31:60Z",
		"2023-11-07T05:31:56z",
		"2023-11-07T05:31:56+0100",
		"2023-11-07T05:31:56+24:00",
		"2023-11-07T05:31:56.Z",
		"2023-11-07T5:31:56Z",
		"23-11-07T05:31:56Z",
		"1699335116",
	}
	var tests []schemaCase
	for _, s := range valid {
		tests = append(tests, schemaCase{"valid " + s, message(fmt.Sprintf(`"send_after":%q`, s)), nil})
	}
	for _, s := range invalid {
		tests = append(tests, schemaCase{"invalid " + s, message(fmt.Sprintf(`"send_after":%q`, s)),
			[]string{fmt.Sprintf("payload.send_after: not a date-time: %q", s)}})
	}
	tests = append(tests,
		schemaCase{"null", message(`"send_after":null`), nil},
		schemaCase{"number", message(`"send_after":1699335116`), []string{"payload.send_after: must be a string or null, got a number"}},
	)
	runSchema(t, mateo.SendMessageSchema, tests)
}

func TestConversationUpdateSchema(t *testing.T) {
	t.Parallel()
	const inbox = "16fd2706-8baf-433b-82eb-8c7fada847da"
	runSchema(t, mateo.ConversationUpdateSchema, []schemaCase{
		{"seed example", `{"id":"` + channel + `","inbox_id":"` + channel + `","assignee_id":"` + channel + `","status":"open"}`, nil},
		{"id only", `{"id":"` + channel + `"}`, nil},
		{"unassign", `{"id":"` + channel + `","assignee_id":null}`, nil},
		{"closed", `{"id":"` + channel + `","status":"closed"}`, nil},
		{"archived", `{"id":"` + channel + `","status":"archived"}`, nil},
		// Seed 002 documents string<uuid> without Mateo's stricter pattern.
		{"any UUID version", `{"id":"3c90c3cc-0d44-0b50-c888-8dd25736052a","inbox_id":"` + inbox + `"}`, nil},
		{"unknown fields", `{"id":"` + channel + `","unread":false,"tags":{"vip":true}}`, nil},

		{"required: id", `{"status":"closed"}`, []string{"payload.id: required"}},
		{"id null", `{"id":null}`, []string{"payload.id: must be a string, got null"}},
		{"id not a UUID", `{"id":"42"}`, []string{`payload.id: not a UUID: "42"`}},
		{"id PostgREST filter", `{"id":"eq.` + channel + `"}`, []string{`payload.id: not a UUID: "eq.` + channel + `"`}},
		{"inbox_id null", `{"id":"` + channel + `","inbox_id":null}`, []string{"payload.inbox_id: must be a string, got null"}},
		{"inbox_id not a UUID", `{"id":"` + channel + `","inbox_id":"inbox-1"}`, []string{`payload.inbox_id: not a UUID: "inbox-1"`}},
		{"assignee_id not a UUID", `{"id":"` + channel + `","assignee_id":"ana"}`, []string{`payload.assignee_id: not a UUID: "ana"`}},
		{"assignee_id number", `{"id":"` + channel + `","assignee_id":1}`, []string{"payload.assignee_id: must be a string or null, got a number"}},
		{"status null", `{"id":"` + channel + `","status":null}`, []string{"payload.status: must be a string, got null"}},
		{"status enum", `{"id":"` + channel + `","status":"snoozed"}`, []string{`payload.status: must be one of open, closed, archived: "snoozed"`}},
	})
}
