package providers_test

import (
	"slices"
	"testing"

	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
)

func TestRecipients(t *testing.T) {
	t.Parallel()
	mateoSend, lcSend := mateo.Operations[0].Recipients, leadconnector.Operations[0].Recipients
	for _, tc := range []struct {
		name       string
		recipients func([]byte) []string
		body       string
		want       []string
	}{
		{"mateo: one handle each", mateoSend, `{"from":"f","to":[{"handle":"ana@example.com"},{"handle":"+4915112345678","full_name":"Bo"}]}`, []string{"ana@example.com", "+4915112345678"}},
		{"mateo: a list of handles", mateoSend, `{"to":[{"handle":["+14155552671","ana@example.com"]}]}`, []string{"+14155552671", "ana@example.com"}},
		{"mateo: a postal recipient", mateoSend, `{"to":[{"contact_id":"3c90c3cc-0d44-4b50-8888-8dd25736052a","handle":null}]}`, nil},
		{"mateo: cc is not capped", mateoSend, `{"to":[{"handle":"a@example.com"}],"cc":[{"handle":"c@example.com"}]}`, []string{"a@example.com"}},
		{"mateo: no to", mateoSend, `{"from":"f","text":"hi"}`, nil},
		{"leadconnector: sms", lcSend, `{"type":"SMS","contactId":"c","toNumber":"+1 415 555 2671"}`, []string{"+1 415 555 2671"}},
		{"leadconnector: email", lcSend, `{"type":"Email","contactId":"c","emailTo":"ana@example.com","emailCc":["cc@example.com"]}`, []string{"ana@example.com"}},
		{"leadconnector: both", lcSend, `{"type":"Email","contactId":"c","emailTo":"ana@example.com","toNumber":"+14155552671"}`, []string{"+14155552671", "ana@example.com"}},
		{"leadconnector: the contact alone", lcSend, `{"type":"SMS","contactId":"c"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.recipients([]byte(tc.body)); !slices.Equal(got, tc.want) {
				t.Errorf("Recipients(%s) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
	if mateo.Operations[1].Type != mateo.TypeUpdateConversation || mateo.Operations[1].Recipients != nil {
		t.Error("update_conversation has recipients")
	}
}
