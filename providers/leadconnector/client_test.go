package leadconnector_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/sendertest"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/senders"
)

const token = "lc-test-token"

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
	if c, err := leadconnector.New("http://services.leadconnectorhq.com", ""); err == nil {
		t.Errorf("New = %v, want an error", c)
	}
}

func TestSendMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version string
		opts    []senders.Option
		want    string
	}{
		{"default version", "", nil, leadconnector.DefaultVersion},
		{"given version", "2021-07-28", nil, "2021-07-28"},
		{"version header option wins", "", []senders.Option{senders.WithHeader("Version", "2099-01-01")}, "2099-01-01"},
	}
	payload := readFile(t, "testdata/send_message_request.json")
	answer := readFile(t, "testdata/send_message_response.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := sendertest.NewRecorder(t, sendertest.Answer{Status: 201, Header: map[string]string{"Content-Type": "application/json"}, Body: string(answer)})
			c, err := leadconnector.New(rec.URL, tt.version, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			var req leadconnector.SendMessageRequest
			if err := json.Unmarshal(payload, &req); err != nil {
				t.Fatal(err)
			}
			r, err := c.SendMessage(context.Background(), token, &req)
			if err != nil {
				t.Fatal(err)
			}

			got := rec.Only(t)
			if got.Method != http.MethodPost || got.Path != "/conversations/messages" || got.RawQuery != "" {
				t.Errorf("request = %s %s?%s, want POST /conversations/messages", got.Method, got.Path, got.RawQuery)
			}
			sendertest.AssertHeaders(t, got.Header, token)
			if v := got.Header.Values("Version"); len(v) != 1 || v[0] != tt.want {
				t.Errorf("Version = %q, want [%q]", v, tt.want)
			}
			sendertest.JSONEqual(t, got.Body, string(payload))

			want := leadconnector.SendMessageResponse{
				ConversationID: "ABC12h2F6uBrIkfXYazb",
				MessageID:      "t22c6DQcTDf3MjRhwf77",
				MessageIDs:     []string{"t22c6DQcTDf3MjRhwf77", "u33d7ERdUEg4NkSixg88"},
				EmailMessageID: "rnGyqh2F6uBrIkfhFo9A",
				Msg:            "Message queued successfully.",
			}
			if r.StatusCode != 201 || string(r.Body) != string(answer) || !reflect.DeepEqual(r.Value, want) {
				t.Errorf("Response = %d %+v, want 201 %+v", r.StatusCode, r.Value, want)
			}
		})
	}
}

func TestSendMessageForward(t *testing.T) {
	t.Parallel()
	const answer = `{"conversationId":"c","messageId":"m","status":"delivered","forwardData":{"forwardWholeThread":false,"forwardToEmail":"recipient@example.com"}}`
	rec := sendertest.NewRecorder(t, sendertest.Answer{Status: 200, Body: answer})
	c, err := leadconnector.New(rec.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	no := false
	req := &leadconnector.SendMessageRequest{
		Type:      "Email",
		ContactID: "abc123def456",
		Forward: &leadconnector.Forward{
			IsForwarded: true, ForwardWholeThread: &no, MessageID: "t22c6DQcTDf3MjRhwf77", ToEmail: "forward@example.com",
			Extra: providers.Extra{"note": json.RawMessage(`"fyi"`)},
		},
		Extra: providers.Extra{"locationId": json.RawMessage(`"loc1"`)},
	}
	r, err := c.SendMessage(context.Background(), token, req)
	if err != nil {
		t.Fatal(err)
	}
	sendertest.JSONEqual(t, rec.Only(t).Body, `{"type":"Email","contactId":"abc123def456","locationId":"loc1",
		"forward":{"isForwarded":true,"forwardWholeThread":false,"messageId":"t22c6DQcTDf3MjRhwf77","toEmail":"forward@example.com","note":"fyi"}}`)
	if r.Value.Status != "delivered" || r.Value.MessageID != "m" || len(r.Value.MessageIDs) != 0 {
		t.Errorf("Response = %+v", r.Value)
	}
	sendertest.JSONEqual(t, r.Value.ForwardData, `{"forwardWholeThread":false,"forwardToEmail":"recipient@example.com"}`)
}

func TestAPIError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		answer  sendertest.Answer
		want    senders.APIError
		outcome senders.Outcome
	}{
		{"422 message array",
			sendertest.Answer{Status: 422, Body: `{"statusCode":422,"message":["type must be one of the following values: SMS, Email","contactId should not be empty"],"error":"Unprocessable Entity"}`},
			senders.APIError{StatusCode: 422, Code: "Unprocessable Entity", Message: "type must be one of the following values: SMS, Email; contactId should not be empty"},
			senders.Permanent},
		{"401 message string",
			sendertest.Answer{Status: 401, Body: `{"statusCode":401,"message":"Invalid JWT","error":"Unauthorized"}`},
			senders.APIError{StatusCode: 401, Code: "Unauthorized", Message: "Invalid JWT"},
			senders.Permanent},
		{"409 is not a duplicate",
			sendertest.Answer{Status: 409, Body: `{"statusCode":409,"message":"Conflict"}`},
			senders.APIError{StatusCode: 409, Message: "Conflict"},
			senders.Permanent},
		{"429 interval",
			sendertest.Answer{Status: 429, Header: map[string]string{"X-RateLimit-Max": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Interval-Milliseconds": "10000"},
				Body: `{"statusCode":429,"message":"Too Many Requests"}`},
			senders.APIError{StatusCode: 429, Message: "Too Many Requests", RetryAfter: 10 * time.Second},
			senders.Wait},
		{"503",
			sendertest.Answer{Status: 503, Header: map[string]string{"Retry-After": "4"}, Body: `upstream unavailable`},
			senders.APIError{StatusCode: 503, RetryAfter: 4 * time.Second},
			senders.Retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := sendertest.NewRecorder(t, tt.answer)
			c, err := leadconnector.New(rec.URL, "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.SendMessage(context.Background(), token, &leadconnector.SendMessageRequest{Type: "SMS", ContactID: "c1", Message: "Hi"})
			tt.want.Provider, tt.want.Operation = leadconnector.Name, leadconnector.OpSendMessage
			sendertest.AssertAPIError(t, err, tt.want, tt.answer.Body, tt.outcome, nil)
		})
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	sendertest.CheckFailures(t, leadconnector.Name, leadconnector.OpSendMessage, func(ctx context.Context, baseURL, token string, opts ...senders.Option) error {
		c, err := leadconnector.New(baseURL, "", opts...)
		if err != nil {
			return err
		}
		_, err = c.SendMessage(ctx, token, &leadconnector.SendMessageRequest{Type: "SMS", ContactID: "c1", Message: "Hi"})
		return err
	})
}
