package mateo_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/sendertest"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/senders"
)

const token = "mateo-test-token"

// setup returns a client of a server that answers a, mounted like Mateo's
// API under /api/v1.
func setup(t *testing.T, a sendertest.Answer) (*mateo.Client, *sendertest.Recorder) {
	t.Helper()
	rec := sendertest.NewRecorder(t, a)
	c, err := mateo.New(rec.URL + "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestNewRefusesClearText(t *testing.T) {
	t.Parallel()
	if c, err := mateo.New("http://integration.getmateo.com/api/v1"); err == nil {
		t.Errorf("New = %v, want an error", c)
	}
}

func TestSendMessage(t *testing.T) {
	t.Parallel()
	answer := readFile(t, "testdata/send_message_response.json")
	c, rec := setup(t, sendertest.Answer{Status: 200, Header: map[string]string{"Content-Type": "application/vnd.pgrst.object+json"}, Body: string(answer)})

	payload := readFile(t, "testdata/send_message_request.json")
	var req mateo.SendMessageRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		t.Fatal(err)
	}
	r, err := c.SendMessage(context.Background(), token, &req)
	if err != nil {
		t.Fatal(err)
	}

	got := rec.Only(t)
	if got.Method != http.MethodPost || got.Path != "/api/v1/send_message" || got.RawQuery != "" {
		t.Errorf("request = %s %s?%s, want POST /api/v1/send_message", got.Method, got.Path, got.RawQuery)
	}
	sendertest.AssertHeaders(t, got.Header, token)
	sendertest.JSONEqual(t, got.Body, string(payload))

	if r.StatusCode != 200 || string(r.Body) != string(answer) {
		t.Errorf("Response = %d %.40q…, want 200 and the answer as sent", r.StatusCode, r.Body)
	}
	v := r.Value
	checks := []struct{ name, got, want string }{
		{"conversation.id", v.Conversation.ID, "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"},
		{"conversation.channel_type", v.Conversation.ChannelType, "email"},
		{"conversation.status", v.Conversation.Status, "open"},
		{"conversation.assignee_id", deref(v.Conversation.AssigneeID), "6ec0bd7f-11c0-43da-975e-2a8ad9ebae0b"},
		{"message.id", v.Message.ID, "7d3f2a10-5b6c-4d7e-8f90-a1b2c3d4e5f6"},
		{"message.conversation_id", v.Message.ConversationID, "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"},
		{"message.status", v.Message.Status, "sent"},
		{"message.author_type", deref(v.Message.AuthorType), "employee"},
		{"message.send_after", deref(v.Message.SendAfter), "2023-11-07T05:31:56Z"},
		{"message.template_id", deref(v.Message.TemplateID), "<nil>"},
		{"recipients[0].handle", v.Recipients[0].Handle, "ana@example.com"},
		{"recipients[0].role", v.Recipients[0].Role, "to"},
		{"recipients[0].full_name", deref(v.Recipients[0].FullName), "Ana Lima"},
		{"actions[0].type", v.Actions[0].Type, "quick_reply"},
		{"actions[0].subtype", v.Actions[0].Subtype, "url"},
		{"actions[0].data", deref(v.Actions[0].Data), "https://example.com/track/1234"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	sendertest.JSONEqual(t, v.Conversation.Tags, `["vip"]`)
	if !v.Conversation.IsSpam || v.Message.IsInbound || v.Message.AttachmentCount == nil || *v.Message.AttachmentCount != 0 ||
		len(v.Conversation.Files) != 1 || v.Actions[0].Clicked {
		t.Errorf("other fields decoded wrong: %+v", v)
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestUpdateConversationRequest(t *testing.T) {
	t.Parallel()
	const id = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"
	tests := []struct {
		name    string
		payload string
		body    string
	}{
		{"seed example", `{"id":"` + id + `","inbox_id":"16fd2706-8baf-433b-82eb-8c7fada847da","assignee_id":"6ec0bd7f-11c0-43da-975e-2a8ad9ebae0b","status":"open"}`,
			`{"inbox_id":"16fd2706-8baf-433b-82eb-8c7fada847da","assignee_id":"6ec0bd7f-11c0-43da-975e-2a8ad9ebae0b","status":"open"}`},
		{"unassign", `{"id":"` + id + `","assignee_id":null}`, `{"assignee_id":null}`},
		{"status only", `{"id":"` + id + `","status":"closed"}`, `{"status":"closed"}`},
		{"unknown fields pass", `{"id":"` + id + `","status":"archived","unread":false,"tags":{"vip":true}}`, `{"status":"archived","unread":false,"tags":{"vip":true}}`},
		{"id only", `{"id":"` + id + `"}`, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, rec := setup(t, sendertest.Answer{Status: 200, Body: `{"id":"` + id + `"}`})
			var u mateo.ConversationUpdate
			if err := json.Unmarshal([]byte(tt.payload), &u); err != nil {
				t.Fatal(err)
			}
			if _, err := c.UpdateConversation(context.Background(), token, &u); err != nil {
				t.Fatal(err)
			}
			got := rec.Only(t)
			if got.Method != http.MethodPatch || got.Path != "/api/v1/conversation" || got.RawQuery != "id=eq."+id {
				t.Errorf("request = %s %s?%s, want PATCH /api/v1/conversation?id=eq.%s", got.Method, got.Path, got.RawQuery, id)
			}
			sendertest.AssertHeaders(t, got.Header, token)
			sendertest.JSONEqual(t, got.Body, tt.body)
		})
	}
}

func TestUpdateConversationAnswer(t *testing.T) {
	t.Parallel()
	const (
		id   = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"
		conv = `{"id":"` + id + `","status":"closed","assignee_id":null,"inbox_id":"16fd2706-8baf-433b-82eb-8c7fada847da","is_spam":false,"tags":{}}`
	)
	tests := []struct {
		name     string
		body     string
		wantID   string
		notFound bool
	}{
		{"object", conv, id, false},
		{"array of one", "[" + conv + "]", id, false},
		{"array of one, spaced", " \n[ " + conv + " ]\n", id, false},
		{"no body", ``, "", false},
		{"empty array", `[]`, "", true},
		{"empty array, spaced", " [ ]\n", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t, sendertest.Answer{Status: 200, Body: tt.body})
			r, err := c.UpdateConversation(context.Background(), token, &mateo.ConversationUpdate{ID: id, Status: "closed"})
			if tt.notFound {
				if !errors.Is(err, senders.ErrNotFound) {
					t.Fatalf("error = %v, want one wrapping ErrNotFound", err)
				}
				if want := "mateo update_conversation: no conversation with id " + id + ": not found"; err.Error() != want {
					t.Errorf("error = %q, want %q", err, want)
				}
				if got, _ := senders.DefaultPolicy().Classify(err, nil); got != senders.Permanent {
					t.Errorf("Classify = %s, want permanent", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.StatusCode != 200 || string(r.Body) != tt.body || r.Value.ID != tt.wantID {
				t.Errorf("Response = %d %q id %q, want the answer and id %q", r.StatusCode, r.Body, r.Value.ID, tt.wantID)
			}
			if tt.wantID != "" && (r.Value.Status != "closed" || r.Value.AssigneeID != nil || r.Value.InboxID != "16fd2706-8baf-433b-82eb-8c7fada847da") {
				t.Errorf("Conversation = %+v", r.Value)
			}
		})
	}
}

func TestAPIError(t *testing.T) {
	t.Parallel()
	const (
		mateoError = `{"code":"PGRST204","message":"Could not find the 'colour' column","hint":"Check the field names","status":400}`
		conflict   = `{"code":"23505","message":"duplicate key value violates unique constraint \"message_pkey\""}`
	)
	send := func(c *mateo.Client) error {
		_, err := c.SendMessage(context.Background(), token, &mateo.SendMessageRequest{From: channel})
		return err
	}
	update := func(c *mateo.Client) error {
		_, err := c.UpdateConversation(context.Background(), token, &mateo.ConversationUpdate{ID: channel, Status: "open"})
		return err
	}
	tests := []struct {
		name    string
		call    func(*mateo.Client) error
		answer  sendertest.Answer
		want    senders.APIError
		outcome senders.Outcome
	}{
		{"send_message 400", send, sendertest.Answer{Status: 400, Body: mateoError},
			senders.APIError{Operation: mateo.OpSendMessage, StatusCode: 400, Code: "PGRST204", Message: "Could not find the 'colour' column", Hint: "Check the field names"},
			senders.Permanent},
		{"send_message 409", send, sendertest.Answer{Status: 409, Body: conflict},
			senders.APIError{Operation: mateo.OpSendMessage, StatusCode: 409, Code: "23505", Message: `duplicate key value violates unique constraint "message_pkey"`},
			senders.Duplicate},
		{"update_conversation 409", update, sendertest.Answer{Status: 409, Body: conflict},
			senders.APIError{Operation: mateo.OpUpdateConversation, StatusCode: 409, Code: "23505", Message: `duplicate key value violates unique constraint "message_pkey"`},
			senders.Permanent},
		{"send_message 429", send, sendertest.Answer{Status: 429, Header: map[string]string{"ratelimit-limit": "2", "ratelimit-remaining": "0", "ratelimit-reset": "1"}},
			senders.APIError{Operation: mateo.OpSendMessage, StatusCode: 429, RetryAfter: time.Second},
			senders.Wait},
		{"update_conversation 401", update, sendertest.Answer{Status: 401, Body: `{"code":"PGRST301","message":"JWT expired"}`},
			senders.APIError{Operation: mateo.OpUpdateConversation, StatusCode: 401, Code: "PGRST301", Message: "JWT expired"},
			senders.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t, tt.answer)
			err := tt.call(c)
			tt.want.Provider = mateo.Name
			sendertest.AssertAPIError(t, err, tt.want, tt.answer.Body, tt.outcome, duplicateRule(tt.want.Operation))
		})
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	calls := map[string]func(ctx context.Context, c *mateo.Client, token string) error{
		mateo.OpSendMessage: func(ctx context.Context, c *mateo.Client, token string) error {
			_, err := c.SendMessage(ctx, token, &mateo.SendMessageRequest{From: channel})
			return err
		},
		mateo.OpUpdateConversation: func(ctx context.Context, c *mateo.Client, token string) error {
			_, err := c.UpdateConversation(ctx, token, &mateo.ConversationUpdate{ID: channel})
			return err
		},
	}
	for op, call := range calls {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			sendertest.CheckFailures(t, mateo.Name, op, func(ctx context.Context, baseURL, token string, opts ...senders.Option) error {
				c, err := mateo.New(baseURL, opts...)
				if err != nil {
					return err
				}
				return call(ctx, c, token)
			})
		})
	}
}

// duplicateRule returns the duplicate rule of the operation named op.
func duplicateRule(op string) func(*senders.APIError) bool {
	for _, o := range mateo.Operations {
		if o.Action() == op {
			return o.Duplicate
		}
	}
	return nil
}
