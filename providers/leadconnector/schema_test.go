package leadconnector_test

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/internal/sendertest"
	"github.com/punctualhq/punctual/providers/leadconnector"
)

// message returns a payload of type SMS to contact c1 with fields added.
func message(fields string) string {
	return `{"type":"SMS","contactId":"c1",` + fields + `}`
}

type schemaCase struct {
	name string
	json string
	want []string
}

func TestSendMessageSchemaSeedExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/send_message_request.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonvalue.Validate(leadconnector.SendMessageSchema, "payload", data); err != nil {
		t.Errorf("the seed's request example does not validate: %v", err)
	}
}

func TestSendMessageSchema(t *testing.T) {
	t.Parallel()
	tests := []schemaCase{
		{"minimal", `{"type":"SMS","contactId":"c1"}`, nil},
		{"required: type and contactId", `{}`, []string{"payload.type: required", "payload.contactId: required"}},
		{"required: contactId", `{"type":"SMS","message":"Hi"}`, []string{"payload.contactId: required"}},
		{"contactId null", `{"type":"SMS","contactId":null}`, []string{"payload.contactId: must be a string, got null"}},
		{"type null", `{"type":null,"contactId":"c1"}`, []string{"payload.type: must be a string, got null"}},
		{"type sms", `{"type":"sms","contactId":"c1"}`,
			[]string{`payload.type: must be one of SMS, RCS, Email, WhatsApp, IG, FB, Custom, Live_Chat, TIKTOK: "sms"`}},
		{"type GMB", `{"type":"GMB","contactId":"c1"}`,
			[]string{`payload.type: must be one of SMS, RCS, Email, WhatsApp, IG, FB, Custom, Live_Chat, TIKTOK: "GMB"`}},

		{"emailReplyMode reply", message(`"emailReplyMode":"reply"`), nil},
		{"emailReplyMode reply_all", message(`"emailReplyMode":"reply_all"`), nil},
		{"emailReplyMode forward", message(`"emailReplyMode":"forward"`),
			[]string{`payload.emailReplyMode: must be one of reply, reply_all: "forward"`}},
		{"status sent", message(`"status":"sent"`),
			[]string{`payload.status: must be one of delivered, failed, pending, read: "sent"`}},
		{"optimizationPeriod 12h", message(`"optimizationPeriod":"12h"`),
			[]string{`payload.optimizationPeriod: must be one of 24h, 48h, 72h: "12h"`}},
		{"optimizationPeriod number", message(`"optimizationPeriod":24`),
			[]string{"payload.optimizationPeriod: must be a string, got a number"}},

		{"scheduledTimestamp", message(`"scheduledTimestamp":1669287863`), nil},
		{"scheduledTimestamp string", message(`"scheduledTimestamp":"1669287863"`),
			[]string{"payload.scheduledTimestamp: must be a number, got a string"}},
		{"scheduledTimestamp null", message(`"scheduledTimestamp":null`),
			[]string{"payload.scheduledTimestamp: must be a number, got null"}},
		{"usesNativeSchedulingAi", message(`"usesNativeSchedulingAi":false`), nil},
		{"usesNativeSchedulingAi string", message(`"usesNativeSchedulingAi":"false"`),
			[]string{"payload.usesNativeSchedulingAi: must be a boolean, got a string"}},
		{"subType string", message(`"subType":"Email"`), nil},
		{"subType object", message(`"subType":{}`), nil},
		{"subType number", message(`"subType":1`), []string{"payload.subType: must be a string or an object, got a number"}},

		{"forward", message(`"forward":{"isForwarded":true,"forwardWholeThread":false,"messageId":"t22c6DQcTDf3MjRhwf77","emailMessageId":"rnGyqh2F6uBrIkfhFo9A","toEmail":"forward@example.com","recipientContactId":"DEF56h2F6uBrIkfXYacd"}`), nil},
		{"forward: isForwarded required", message(`"forward":{"toEmail":"forward@example.com"}`),
			[]string{"payload.forward.isForwarded: required"}},
		{"forward: isForwarded string", message(`"forward":{"isForwarded":"yes"}`),
			[]string{"payload.forward.isForwarded: must be a boolean, got a string"}},
		{"forward: forwardWholeThread null", message(`"forward":{"isForwarded":true,"forwardWholeThread":null}`),
			[]string{"payload.forward.forwardWholeThread: must be a boolean, got null"}},
		{"forward: toEmail array", message(`"forward":{"isForwarded":true,"toEmail":["a@example.com"]}`),
			[]string{"payload.forward.toEmail: must be a string, got an array"}},
		{"forward null", message(`"forward":null`), []string{"payload.forward: must be an object, got null"}},

		{"unknown fields", message(`"locationId":"loc1","meta":{"a":[1,null]},"forward":{"isForwarded":true,"note":"fyi"}`), nil},
		{"several problems", `{"type":"Fax","emailCc":"cc@example.com","html":null}`, []string{
			"payload.contactId: required",
			"payload.emailCc: must be an array, got a string",
			"payload.html: must be a string, got null",
			`payload.type: must be one of SMS, RCS, Email, WhatsApp, IG, FB, Custom, Live_Chat, TIKTOK: "Fax"`,
		}},
	}
	for _, typ := range []string{"SMS", "RCS", "Email", "WhatsApp", "IG", "FB", "Custom", "Live_Chat", "TIKTOK"} {
		tests = append(tests, schemaCase{"type " + typ, fmt.Sprintf(`{"type":%q,"contactId":"c1"}`, typ), nil})
	}
	for field, values := range map[string][]string{
		"status":             {"delivered", "failed", "pending", "read"},
		"optimizationPeriod": {"24h", "48h", "72h"},
	} {
		for _, v := range values {
			tests = append(tests, schemaCase{field + " " + v, message(fmt.Sprintf(`%q:%q`, field, v)), nil})
		}
	}
	for _, field := range []string{"appointmentId", "emailFrom", "html", "message", "subject", "replyMessageId", "templateId",
		"threadId", "conversationProviderId", "emailTo", "customSubtypeId", "fromNumber", "toNumber"} {
		tests = append(tests,
			schemaCase{field + " string", message(fmt.Sprintf(`%q:"x"`, field)), nil},
			schemaCase{field + " null", message(fmt.Sprintf(`%q:null`, field)),
				[]string{"payload." + field + ": must be a string, got null"}},
		)
	}
	for _, field := range []string{"attachments", "emailCc", "emailBcc"} {
		tests = append(tests,
			schemaCase{field + " strings", message(fmt.Sprintf(`%q:["a","b"]`, field)), nil},
			schemaCase{field + " null", message(fmt.Sprintf(`%q:null`, field)),
				[]string{"payload." + field + ": must be an array, got null"}},
			schemaCase{field + " item", message(fmt.Sprintf(`%q:["a",2]`, field)),
				[]string{"payload." + field + "[1]: must be a string, got a number"}},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := jsonvalue.Validate(leadconnector.SendMessageSchema, "payload", []byte(tt.json))
			if got := sendertest.Problems(err); !slices.Equal(got, tt.want) {
				t.Errorf("Validate(%s)\n got: %q\nwant: %q", tt.json, got, tt.want)
			}
		})
	}
}
