package producer

import "testing"

func TestContentKeyIgnoresWhiteSpaceBetweenTokens(t *testing.T) {
	same := [][]string{
		{`{"type":"x","payload":{"text":"a \" b"}}`, `{ "type" : "x",	"payload": {"text": "a \" b"} }`},
		{`{"t":"say \"hi\\"}`, "{\"t\":\r\n\"say \\\"hi\\\\\"}"},
	}
	for _, lines := range same {
		if a, b := contentKey([]byte(lines[0])), contentKey([]byte(lines[1])); a != b {
			t.Errorf("%s and %s have keys %s and %s", lines[0], lines[1], a, b)
		}
	}
	different := [][]string{
		{`{"t":"a b"}`, `{"t":"ab"}`},
		{`{"t":"a\" b"}`, `{"t":"a\"b"}`},
	}
	for _, lines := range different {
		if contentKey([]byte(lines[0])) == contentKey([]byte(lines[1])) {
			t.Errorf("%s and %s have the same key", lines[0], lines[1])
		}
	}
}
