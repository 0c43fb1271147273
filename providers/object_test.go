package providers_test

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/punctualhq/punctual/internal/sendertest"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
)

type point struct {
	X int    `json:"x"`
	Y int    `json:"y,omitempty"`
	Z string `json:"-"`
}

func TestMarshalObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		known any
		extra providers.Extra
		want  string
	}{
		{"no extra", point{X: 1}, nil, `{"x":1}`},
		{"extra sorted after the known fields", point{X: 1}, providers.Extra{"b": json.RawMessage(`true`), "a": json.RawMessage(`null`)}, `{"x":1,"a":null,"b":true}`},
		{"extra compacted", point{X: 1}, providers.Extra{"a": json.RawMessage("[ 1,\n 2 ]")}, `{"x":1,"a":[1,2]}`},
		{"known fields win", point{X: 1}, providers.Extra{"x": json.RawMessage(`2`), "y": json.RawMessage(`3`)}, `{"x":1}`},
		{"no known field encoded", struct {
			A string `json:"a,omitempty"`
		}{}, providers.Extra{"b": json.RawMessage(`1`)}, `{"b":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := providers.MarshalObject(tt.known, tt.extra)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("MarshalObject = %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("invalid extra", func(t *testing.T) {
		t.Parallel()
		if got, err := providers.MarshalObject(point{}, providers.Extra{"a": json.RawMessage(`{`)}); err == nil {
			t.Errorf("MarshalObject = %s, want an error", got)
		}
	})
}

func TestUnmarshalObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		json      string
		want      point
		wantExtra providers.Extra
	}{
		{"known only", `{"x":1,"y":2}`, point{X: 1, Y: 2}, nil},
		{"extra kept raw", `{"x":1,"a":[1, 2],"b":null}`, point{X: 1}, providers.Extra{"a": json.RawMessage(`[1, 2]`), "b": json.RawMessage(`null`)}},
		{"a field the struct skips is extra", `{"Z":"z"}`, point{}, providers.Extra{"Z": json.RawMessage(`"z"`)}},
		// JSON names are case-sensitive: "X" is not "x", and the provider
		// must get it as it was written.
		{"other case is extra", `{"X":5,"x":1}`, point{X: 1}, providers.Extra{"X": json.RawMessage(`5`)}},
		{"null", `null`, point{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got point
			extra := providers.Extra{"stale": json.RawMessage(`1`)}
			if err := providers.UnmarshalObject([]byte(tt.json), &got, &extra); err != nil {
				t.Fatal(err)
			}
			if got != tt.want || !reflect.DeepEqual(extra, tt.wantExtra) {
				t.Errorf("UnmarshalObject = %+v %s, want %+v %s", got, extra, tt.want, tt.wantExtra)
			}
		})
	}
	for _, data := range []string{`[1]`, `{"x":"1"}`, `{`} {
		t.Run("error "+data, func(t *testing.T) {
			t.Parallel()
			var (
				got   point
				extra providers.Extra
			)
			if err := providers.UnmarshalObject([]byte(data), &got, &extra); err == nil {
				t.Errorf("UnmarshalObject(%s): no error", data)
			}
		})
	}
}

// Decoding a payload into the typed request and encoding it again gives the
// same JSON: null stays null, absent stays absent, and fields the types do
// not define pass through untouched.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	const id = `"3c90c3cc-0d44-4b50-8888-8dd25736052a"`
	type (
		sendMessage   = mateo.SendMessageRequest
		recipient     = mateo.Recipient
		action        = mateo.Action
		update        = mateo.ConversationUpdate
		leadConnector = leadconnector.SendMessageRequest
		forward       = leadconnector.Forward
	)
	tests := []struct {
		name string
		new  func() any
		json string
	}{
		{"mateo seed", newOf[sendMessage], seed(t, "mateo/testdata/send_message_request.json")},
		{"mateo minimal", newOf[sendMessage], `{"from":` + id + `}`},
		{"mateo every field null", newOf[sendMessage], `{"from":` + id + `,"id":null,"conversation_id":null,"conversation_status":null,
			"to":null,"cc":null,"bcc":null,"subject":null,"html":null,"text":null,"content":null,"send_after":null,
			"placeholder_values":null,"reply_to_message_id":null,"attachments":null,"template_id":null,
			"review_channel_id":null,"marketing_channel_id":null,"actions":null,"footer":null}`},
		{"mateo empty values", newOf[sendMessage], `{"from":"","subject":"","to":[],"placeholder_values":[],"content":{},"actions":[]}`},
		{"mateo unknown fields", newOf[sendMessage], `{"from":` + id + `,"priority":5,"big":12345678901234567890,
			"metadata":{"a":[1,null,{"b":"c"}],"d":null},"nothing":null,"text":"Hi"}`},
		{"mateo unknown fields in recipients and actions", newOf[sendMessage], `{"from":` + id + `,
			"to":[{"handle":"a@example.com","nickname":"Ana","x":null},{"contact_id":` + id + `,"handle":null,"postal":{"zip":"10115"}}],
			"cc":[{"handle":["+4915112345678","+4930123456"],"country_codes":["DE"],"full_name":null,"tier":1}],
			"bcc":[{}],
			"actions":[{"text":"Yes","type":"quick_reply","data":null,"subtype":null,"color":"green"},{"text":"Go","type":"call_to_action","subtype":"url","data":"https://example.com"}]}`},
		{"mateo unknown field spelled like a known one", newOf[sendMessage], `{"from":` + id + `,"Subject":"Hi","TEXT":null}`},
		{"mateo content kept as given", newOf[sendMessage], `{"from":` + id + `,"content":{"type":"doc","attrs":{"x":null},"content":[1.50,"a"]}}`},
		{"recipient every field null", newOf[recipient], `{"handle":null,"country_codes":[],"full_name":null,"contact_id":null,"external_contact_id":null,"secondary_external_contact_id":null,"extra":true}`},
		{"recipient empty", newOf[recipient], `{}`},
		{"recipient handle list", newOf[recipient], `{"handle":["a","b"],"Handle":"other"}`},
		{"action", newOf[action], `{"data":null,"text":"Yes","type":"quick_reply","subtype":null,"emoji":"👍"}`},
		{"action without optional fields", newOf[action], `{"text":"Menu","type":"list"}`},
		{"conversation update", newOf[update], `{"id":` + id + `,"inbox_id":` + id + `,"assignee_id":null,"status":"closed","unread":false}`},
		{"conversation update id only", newOf[update], `{"id":` + id + `}`},
		{"leadconnector seed", newOf[leadConnector], seed(t, "leadconnector/testdata/send_message_request.json")},
		{"leadconnector minimal", newOf[leadConnector], `{"type":"SMS","contactId":"c1"}`},
		{"leadconnector every other field", newOf[leadConnector], `{"type":"Email","contactId":"c1","subType":{"kind":"x","n":null},
			"customSubtypeId":"507f1f77bcf86cd799439011","status":"pending","usesNativeSchedulingAi":false,"optimizationPeriod":"24h",
			"scheduledTimestamp":1669287863.5,"attachments":[],"forward":{"isForwarded":true,"forwardWholeThread":false,
			"messageId":"m","emailMessageId":"e","sourceContactId":"s","sourceConversationId":"sc","toEmail":"t@example.com",
			"recipientContactId":"r","recipientConversationId":"rc"}}`},
		{"leadconnector subType string", newOf[leadConnector], `{"type":"Custom","contactId":"c1","subType":"Email"}`},
		{"leadconnector unknown fields", newOf[leadConnector], `{"type":"SMS","contactId":"c1","locationId":"loc1","meta":null,
			"Message":"other case","forward":{"isForwarded":false,"note":{"a":[null]}}}`},
		{"forward", newOf[forward], `{"isForwarded":true,"forwardWholeThread":true,"x":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := tt.new()
			if err := json.Unmarshal([]byte(tt.json), v); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			sendertest.JSONEqual(t, out, tt.json)
		})
	}
}

func newOf[T any]() any { return new(T) }

func seed(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestATypedRequestKeepsTheNullsGivenForPlainFields(t *testing.T) {
	t.Parallel()
	var req mateo.SendMessageRequest
	if err := json.Unmarshal([]byte(`{"from":"f","subject":null,"text":"Hi","to":[]}`), &req); err != nil {
		t.Fatal(err)
	}
	req.Text = "" // cleared by the app: left out, not restored
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	sendertest.JSONEqual(t, out, `{"from":"f","subject":null,"to":[]}`)
}
