package mateo_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/punctualhq/punctual/internal/sendertest"
	"github.com/punctualhq/punctual/providers/mateo"
)

func TestTypedRequestsAreThePayloadsMateoDocuments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  any
		want string
	}{
		{"one handle", &mateo.SendMessageRequest{From: channel, To: []mateo.Recipient{{Handle: mateo.Handle("ana@example.com")}}, Text: "Hi"},
			`{"from":"` + channel + `","to":[{"handle":"ana@example.com"}],"text":"Hi"}`},
		{"several handles", &mateo.SendMessageRequest{From: channel, Cc: []mateo.Recipient{{Handle: mateo.Handles("a@example.com", "+15550100"), FullName: "Ana"}}},
			`{"from":"` + channel + `","cc":[{"handle":["a@example.com","+15550100"],"full_name":"Ana"}]}`},
		{"a postal recipient has no handle", &mateo.SendMessageRequest{From: channel, To: []mateo.Recipient{{ContactID: channel}}},
			`{"from":"` + channel + `","to":[{"contact_id":"` + channel + `"}]}`},
		{"a null given is sent", &mateo.ConversationUpdate{ID: channel, AssigneeID: mateo.Null[string]()},
			`{"id":"` + channel + `","assignee_id":null}`},
		{"a value given is sent", &mateo.SendMessageRequest{From: channel, ConversationStatus: mateo.Value("closed")},
			`{"from":"` + channel + `","conversation_status":"closed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			sendertest.JSONEqual(t, got, tt.want)
		})
	}
}

func TestRecipientHandleReadsEveryForm(t *testing.T) {
	t.Parallel()
	for input, want := range map[string][]string{`"ana@example.com"`: {"ana@example.com"}, `["a","b"]`: {"a", "b"}, `null`: nil} {
		var h mateo.RecipientHandle
		if err := json.Unmarshal([]byte(input), &h); err != nil || !slices.Equal(h.Strings(), want) {
			t.Errorf("Unmarshal(%s) = %q, %v; want %q", input, h.Strings(), err, want)
		}
	}
	var h mateo.RecipientHandle
	if err := json.Unmarshal([]byte(`42`), &h); err == nil {
		t.Error("Unmarshal(42) = nil, want an error")
	}
}
