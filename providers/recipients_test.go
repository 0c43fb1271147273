package providers_test

import (
	"slices"
	"testing"

	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
)

func TestRecipientsReadTheAddressesOfABody(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		typ, body string
		want      []string
	}{
		{mateo.TypeSendMessage, `{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"+12125550123"},{"handle":["+4915112345678","ana@example.com"]},{"contact_id":"c1"}],"cc":[{"handle":"cc@example.com"}]}`,
			[]string{"+12125550123", "+4915112345678", "ana@example.com"}},
		{mateo.TypeSendMessage, `{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"no one"}`, nil},
		{leadconnector.TypeSendMessage, `{"type":"SMS","contactId":"c1","toNumber":"+14155550123","message":"Hi"}`, []string{"+14155550123"}},
		{leadconnector.TypeSendMessage, `{"type":"Email","contactId":"c1","emailTo":"ana@example.com"}`, []string{"ana@example.com"}},
		{leadconnector.TypeSendMessage, `{"type":"SMS","contactId":"c1"}`, nil},
	} {
		op := builtin.Registry().Lookup(c.typ)
		if op.Recipients == nil {
			t.Fatalf("%s has no Recipients", c.typ)
		}
		if got := op.Recipients([]byte(c.body)); !slices.Equal(got, c.want) {
			t.Errorf("%s %s: recipients %q, want %q", c.typ, c.body, got, c.want)
		}
	}
	if op := builtin.Registry().Lookup(mateo.TypeUpdateConversation); op.Recipients != nil {
		t.Error("a conversation update sends to no one, but has Recipients")
	}
}
