package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/sandbox"
)

var (
	uuidPattern    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	shortIDPattern = regexp.MustCompile(`^[0-9a-f]{20}$`)
)

// generated are the values of a Mateo answer the sandbox makes up.
type generated struct {
	Conversation struct {
		ID             string `json:"id"`
		OrganisationID string `json:"organisation_id"`
		InboxID        string `json:"inbox_id"`
		ChannelID      string `json:"channel_id"`
		CreatedAt      string `json:"created_at"`
	} `json:"conversation"`
	Message struct {
		ID string `json:"id"`
	} `json:"message"`
	Recipients []struct {
		ID string `json:"id"`
	} `json:"recipients"`
	Actions []struct {
		ID string `json:"id"`
	} `json:"actions"`
}

// placeholders reads the generated values of a Mateo answer, checks their
// form, and returns them by the names the expected bodies use.
func placeholders(t *testing.T, body []byte, since time.Time) (generated, *strings.Replacer) {
	t.Helper()
	var g generated
	if err := json.Unmarshal(body, &g); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	c := g.Conversation
	ids := map[string]string{"$CONV": c.ID, "$ORG": c.OrganisationID, "$INBOX": c.InboxID, "$CHANNEL": c.ChannelID, "$MSG": g.Message.ID}
	for i, r := range g.Recipients {
		ids[fmt.Sprintf("$R%d", i)] = r.ID
	}
	for i, a := range g.Actions {
		ids[fmt.Sprintf("$A%d", i)] = a.ID
	}
	seen := map[string]string{}
	var pairs []string
	for name, id := range ids {
		if id == "" {
			continue // not in this answer: a $name left in the expected body fails
		}
		if !uuidPattern.MatchString(id) && id != from {
			t.Errorf("%s = %q, not a UUID", name, id)
		}
		if other, ok := seen[id]; ok && id != from {
			t.Errorf("%s and %s are both %q", name, other, id)
		}
		seen[id] = name
		pairs = append(pairs, `"`+name+`"`, `"`+id+`"`)
	}
	now, err := time.Parse(time.RFC3339Nano, c.CreatedAt)
	if err != nil || now.Before(since.Add(-time.Second)) || now.After(time.Now().Add(time.Second)) {
		t.Errorf("created_at %q: not the time of the request (%v)", c.CreatedAt, err)
	}
	pairs = append(pairs, `"$NOW"`, `"`+c.CreatedAt+`"`)
	return g, strings.NewReplacer(pairs...)
}

// recipient is the JSON of a recipient of a sent message.
func recipient(id, handle, fullName, contactID, role string) string {
	return fmt.Sprintf(`{"id":%q,"created_at":"$NOW","updated_at":"$NOW","organisation_id":"$ORG","conversation_id":"$CONV",
		"message_id":"$MSG","contact_id":%s,"handle":%q,"full_name":%s,"is_organisation":null,"role":%q,"status":"sent"}`,
		id, contactID, handle, fullName, role)
}

// conversationJSON is the JSON of a conversation, with the fields that vary.
func conversationJSON(id, assignee, channel, inbox, latest, status string) string {
	return fmt.Sprintf(`{"id":%s,"created_at":"$NOW","updated_at":"$NOW","organisation_id":"$ORG","subject":null,
		"assignee_id":%s,"unread":false,"channel_id":%s,"contact_id":null,"external_id":null,"is_spam":false,
		"inbox_id":%s,"latest_message_id":%s,"latest_inbound_message_id":null,"latest_message_created_at":null,
		"latest_inbound_message_created_at":null,"tags":[],"files":[],"channel_type":"email","status":%q}`,
		id, assignee, channel, inbox, latest, status)
}

// messageJSON is the JSON of a sent message.
func messageJSON(subject, replyTo, templateID, footer string) string {
	return fmt.Sprintf(`{"id":"$MSG","created_at":"$NOW","updated_at":"$NOW","organisation_id":"$ORG",
		"conversation_id":"$CONV","is_inbound":false,"subject":%s,"blurb":null,"author_id":null,"content":null,
		"raw_content":null,"status":"sent","attachment_count":null,"reply_to_message_id":%s,"external_files":null,
		"external_id":null,"template_id":%s,"review_channel_id":null,"author_type":null,"forwarded":null,
		"forwarded_message_text":null,"send_after":null,"footer":%s,"sendout_id":null,"campaign_id":null,
		"sent_at":"$NOW","timestamp":"$NOW","location":null,"location_metadata":null,"contacts":null,"files":null,
		"header_media_filename":null}`, subject, replyTo, templateID, footer)
}

func TestMateoSendMessage(t *testing.T) {
	t.Parallel()
	const (
		msgID    = "7d3f1a52-8c1e-4b5a-9f0e-2a6b4c8d1e3f"
		convID   = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
		contact  = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
		template = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	)
	for _, tc := range []struct {
		name, body, want string
	}{
		{
			name: "every recipient role and an action",
			// bcc and cc come first in the request: the answer lists to, cc, bcc.
			body: `{"bcc":[{"handle":"bcc@example.com","contact_id":"` + contact + `"}],"cc":[{"handle":"cc@example.com"}],
				"from":"` + from + `","id":"` + msgID + `","subject":"Reminder","text":"Hi","footer":"Bye",
				"to":[{"handle":"ana@example.com","full_name":"Ana"},{"handle":"+4915112345678","full_name":null}],
				"template_id":"` + template + `","reply_to_message_id":null,
				"actions":[{"text":"Open","type":"call_to_action","subtype":"url","data":"https://example.com"},{"text":"Call","type":"call_to_action","subtype":"phone_number"}]}`,
			want: `{"conversation":` + conversationJSON(`"$CONV"`, "null", `"`+from+`"`, `"$INBOX"`, `"`+msgID+`"`, "open") + `,
				"message":` + strings.ReplaceAll(messageJSON(`"Reminder"`, "null", `"`+template+`"`, `"Bye"`), "$MSG", msgID) + `,
				"recipients":[` + strings.Join([]string{
				recipient("$R0", "ana@example.com", `"Ana"`, "null", "to"),
				recipient("$R1", "+4915112345678", "null", "null", "to"),
				recipient("$R2", "cc@example.com", "null", "null", "cc"),
				recipient("$R3", "bcc@example.com", "null", `"`+contact+`"`, "bcc"),
			}, ",") + `],
				"actions":[
					{"id":"$A0","created_at":"$NOW","updated_at":"$NOW","organisation_id":"$ORG","conversation_id":"$CONV",
					 "message_id":"$MSG","text":"Open","data":"https://example.com","clicked":false,"type":"call_to_action","subtype":"url"},
					{"id":"$A1","created_at":"$NOW","updated_at":"$NOW","organisation_id":"$ORG","conversation_id":"$CONV",
					 "message_id":"$MSG","text":"Call","data":null,"clicked":false,"type":"call_to_action","subtype":"phone_number"}
				]}`,
		},
		{
			name: "only from, with a fresh message id",
			body: `{"from":"` + from + `"}`,
			want: `{"conversation":` + conversationJSON(`"$CONV"`, "null", `"`+from+`"`, `"$INBOX"`, `"$MSG"`, "open") + `,
				"message":` + messageJSON("null", "null", "null", "null") + `,"recipients":[],"actions":[]}`,
		},
		{
			name: "existing conversation and status",
			body: `{"from":"` + from + `","conversation_id":"` + convID + `","conversation_status":"closed","id":null,
				"to":null,"reply_to_message_id":"` + msgID + `","unknown_field":1}`,
			want: `{"conversation":` + conversationJSON(`"`+convID+`"`, "null", `"`+from+`"`, `"$INBOX"`, `"$MSG"`, "closed") + `,
				"message":` + strings.ReplaceAll(messageJSON("null", `"`+msgID+`"`, "null", "null"), "$CONV", convID) + `,
				"recipients":[],"actions":[]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := setup(t, sandbox.Config{})
			start := time.Now()
			a := send(t, srv, "POST", "/api/v1/send_message", mateoHeader(mateoTok), tc.body)
			_, fill := placeholders(t, a.body, start)
			a.check(t, http.StatusOK, fill.Replace(tc.want))
		})
	}
}

func TestMateoFreshIDs(t *testing.T) {
	t.Parallel()
	_, srv := setup(t, sandbox.Config{})
	body := `{"from":"` + from + `","to":[{"handle":"ana@example.com"}],"actions":[{"text":"Yes","type":"quick_reply"}]}`
	seen := map[string]string{}
	for i := range 3 {
		a := send(t, srv, "POST", "/api/v1/send_message", mateoHeader(mateoTok), body)
		if a.status != http.StatusOK {
			t.Fatalf("status %d, want 200 (body %s)", a.status, a.body)
		}
		g, _ := placeholders(t, a.body, time.Now().Add(-time.Minute))
		for name, id := range map[string]string{
			"conversation": g.Conversation.ID, "organisation": g.Conversation.OrganisationID, "inbox": g.Conversation.InboxID,
			"message": g.Message.ID, "recipient": g.Recipients[0].ID, "action": g.Actions[0].ID,
		} {
			if other, ok := seen[id]; ok {
				t.Errorf("answer %d: %s id %q already given as %s", i+1, name, id, other)
			}
			seen[id] = fmt.Sprintf("%s of answer %d", name, i+1)
		}
	}
}

func TestMateoDuplicate(t *testing.T) {
	t.Parallel()
	const msgID = "7d3f1a52-8c1e-4b5a-9f0e-2a6b4c8d1e3f"
	_, srv := setup(t, sandbox.Config{})
	body := `{"from":"` + from + `","id":"` + msgID + `","text":"Hi"}`
	conflict := `{"code":"23505","message":"duplicate key value violates unique constraint \"message_pkey\"",
		"hint":null,"details":"Key (id)=(` + msgID + `) already exists.","status":409}`
	// A request Mateo refuses does not take the id.
	bad := `{"from":"` + from + `","id":"` + msgID + `","conversation_status":"pending"}`
	for i, tc := range []struct {
		header http.Header
		body   string
		status int
	}{
		{mateoHeader(mateoTok), bad, 400},
		{mateoHeader(mateoTok), body, 200},
		{mateoHeader(mateoTok), body, 409},
		{mateoHeader(otherTok), body, 409}, // ids are Mateo's, not the token's
	} {
		want := ""
		if tc.status == http.StatusConflict {
			want = conflict
		}
		t.Logf("request %d", i+1)
		send(t, srv, "POST", "/api/v1/send_message", tc.header, tc.body).expect(t, tc.status, want)
	}
}

func TestMateoSendMessageInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, message string
	}{
		{"empty object", `{}`, "body.from: required"},
		{"from not a UUID", `{"from":"abc"}`, `body.from: not a UUID: "abc"`},
		{"recipient contact not a UUID", `{"from":"` + from + `","to":[{"handle":"a@example.com","contact_id":"42"}]}`,
			`body.to[0].contact_id: not a UUID: "42"`},
		{"to not an array", `{"from":"` + from + `","to":"ana@example.com"}`, "body.to: must be an array or null, got a string"},
		{"action type", `{"from":"` + from + `","actions":[{"text":"x","type":"button"}]}`,
			`body.actions[0].type: must be one of quick_reply, call_to_action, list: "button"`},
		{"action without text", `{"from":"` + from + `","actions":[{"type":"list"}]}`, "body.actions[0].text: required"},
		{"send_after not a date", `{"from":"` + from + `","send_after":"2023-02-30T10:00:00Z"}`,
			`body.send_after: not a date-time: "2023-02-30T10:00:00Z"`},
		{"several problems", `{"from":"abc","conversation_status":"pending"}`,
			`body.conversation_status: must be one of open, closed, archived: "pending"; body.from: not a UUID: "abc"`},
		{"not an object", `[1,2]`, "body: must be an object, got an array"},
		{"not JSON", `{"from":`, "body: invalid JSON: unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := setup(t, sandbox.Config{})
			send(t, srv, "POST", "/api/v1/send_message", mateoHeader(mateoTok), tc.body).
				check(t, http.StatusBadRequest, mateoError(400, "invalid_input", tc.message))
		})
	}
}

func TestMateoUpdateConversation(t *testing.T) {
	t.Parallel()
	const (
		id       = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
		inbox    = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
		assignee = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"every field", `{"inbox_id":"` + inbox + `","assignee_id":"` + assignee + `","status":"closed"}`,
			conversationJSON(`"`+id+`"`, `"`+assignee+`"`, `"$CHANNEL"`, `"`+inbox+`"`, "null", "closed")},
		{"unassigned and archived", `{"assignee_id":null,"status":"archived"}`,
			conversationJSON(`"`+id+`"`, "null", `"$CHANNEL"`, `"$INBOX"`, "null", "archived")},
		{"nothing to change", `{}`,
			conversationJSON(`"`+id+`"`, "null", `"$CHANNEL"`, `"$INBOX"`, "null", "open")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := setup(t, sandbox.Config{})
			start := time.Now()
			a := send(t, srv, "PATCH", "/api/v1/conversation?id=eq."+id, mateoHeader(mateoTok), tc.body)
			// The answer is the conversation itself: wrapped to read its values.
			wrapped, err := json.Marshal(map[string]json.RawMessage{"conversation": a.body})
			if err != nil {
				t.Fatal(err)
			}
			_, fill := placeholders(t, wrapped, start)
			a.check(t, http.StatusOK, fill.Replace(tc.want))
		})
	}
}

func TestMateoUpdateConversationInvalid(t *testing.T) {
	t.Parallel()
	const (
		id       = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
		wantForm = "want a JSON object and the query id=eq.{id}"
	)
	for _, tc := range []struct {
		name, query, body string
		code, message     string
	}{
		{"no id query", "", `{"status":"open"}`, "PGRST100", wantForm},
		{"id without eq.", "?id=" + id, `{"status":"open"}`, "PGRST100", wantForm},
		{"id in the body", "?id=eq." + id, `{"id":"` + id + `","status":"open"}`, "PGRST100", "the conversation id belongs in the query"},
		{"body null", "?id=eq." + id, `null`, "PGRST100", wantForm},
		{"body an array", "?id=eq." + id, `[]`, "PGRST100",
			"json: cannot unmarshal array into Go value of type map[string]json.RawMessage\n" + wantForm},
		{"id not a UUID", "?id=eq.42", `{"status":"open"}`, "invalid_input", `body.id: not a UUID: "42"`},
		{"unknown status", "?id=eq." + id, `{"status":"snoozed"}`, "invalid_input",
			`body.status: must be one of open, closed, archived: "snoozed"`},
		{"assignee not a UUID", "?id=eq." + id, `{"assignee_id":"bob"}`, "invalid_input", `body.assignee_id: not a UUID: "bob"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := setup(t, sandbox.Config{})
			send(t, srv, "PATCH", "/api/v1/conversation"+tc.query, mateoHeader(mateoTok), tc.body).
				check(t, http.StatusBadRequest, mateoError(400, tc.code, tc.message))
		})
	}
}

func TestLeadConnectorSendMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		email      bool
	}{
		{"SMS", smsBody, false},
		{"Email", `{"type":"Email","contactId":"c1","subject":"Hi","html":"<p>Hi</p>","emailCc":["cc@example.com"]}`, true},
		{"WhatsApp", `{"type":"WhatsApp","contactId":"c1","message":"Hi","scheduledTimestamp":1767225600}`, false},
		{"unknown field", `{"type":"Custom","contactId":"c1","conversationProviderId":"p1","newField":{"a":1}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := setup(t, sandbox.Config{})
			seen := map[string]bool{}
			for range 2 {
				a := send(t, srv, "POST", "/conversations/messages", lcHeader(lcTok), tc.body)
				var got map[string]string
				if err := json.Unmarshal(a.body, &got); err != nil {
					t.Fatalf("body %s: %v", a.body, err)
				}
				ids := []string{"conversationId", "messageId"}
				if tc.email {
					ids = append(ids, "emailMessageId")
				}
				want := map[string]string{"msg": "Message queued successfully.", "status": "pending"}
				for _, name := range ids {
					if !shortIDPattern.MatchString(got[name]) {
						t.Errorf("%s = %q, not 20 letters and digits", name, got[name])
					}
					if seen[got[name]] {
						t.Errorf("%s = %q given before", name, got[name])
					}
					seen[got[name]] = true
					want[name] = got[name]
				}
				wantJSON, err := json.Marshal(want)
				if err != nil {
					t.Fatal(err)
				}
				a.check(t, http.StatusOK, string(wantJSON))
			}
		})
	}
}

func TestLeadConnectorSendMessageInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, message string
	}{
		{"no type", `{"contactId":"c1"}`, "body.type: required"},
		{"no contact", `{"type":"SMS"}`, "body.contactId: required"},
		{"unknown type", `{"type":"Fax","contactId":"c1"}`,
			`body.type: must be one of SMS, RCS, Email, WhatsApp, IG, FB, Custom, Live_Chat, TIKTOK: "Fax"`},
		{"timestamp a string", `{"type":"SMS","contactId":"c1","scheduledTimestamp":"soon"}`,
			"body.scheduledTimestamp: must be a number, got a string"},
		{"forward without isForwarded", `{"type":"Email","contactId":"c1","forward":{}}`, "body.forward.isForwarded: required"},
		{"not JSON", `SMS`, "body: invalid JSON: invalid character 'S' looking for beginning of value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := setup(t, sandbox.Config{})
			send(t, srv, "POST", "/conversations/messages", lcHeader(lcTok), tc.body).
				check(t, http.StatusBadRequest, lcError(400, tc.message))
		})
	}
}
