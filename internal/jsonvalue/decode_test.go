package jsonvalue

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// decodeSeeds are JSON texts, valid and not, that the fast decoder must
// decode exactly as encoding/json does.
var decodeSeeds = []string{
	`{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com","full_name":null}],"text":"Hi"}`,
	` { "a" : [ 1 , -0.5e+3 , 2E-2 , true , false , null , "" ] } `,
	`{"a":1,"a":2}`,
	`{"text":"line\nbreak \"quoted\" \u00e9 \ud83d\ude00 \/"}`,
	`{"text":"caf\u00e9 café 日本"}`,
	"{\"bad\":\"\xff\"}",
	"{\"ctl\":\"a\tb\"}",
	`{"bad escape":"\x"}`,
	`{"lone surrogate":"\ud800"}`,
	`[01]`, `[1.]`, `[.5]`, `[-]`, `[1e]`, `[+1]`, `[1,]`, `[,1]`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{1:2}`,
	`tru`, `nul`, `falsey`, `"unterminated`, `{"a":1} x`, `{"a":1} {}`, ``, ` `, `[]`, `{}`, `0`, `-0`, `"\\"`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := decodeStd(data)
		got, err := DecodeJSON(data)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("DecodeJSON(%q) error %v, encoding/json %v", data, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeJSON(%q) = %#v, encoding/json %#v", data, got, want)
		}

		members, err := DecodeObject(data)
		var fields map[string]json.RawMessage
		wantErr = json.Unmarshal(data, &fields)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeObject(%q) error %v, encoding/json %v", data, err, wantErr)
		}
		last := map[string]Member{}
		for _, m := range members {
			last[m.Name] = m
		}
		if len(last) != len(fields) {
			t.Fatalf("DecodeObject(%q) names %v, encoding/json %v", data, last, fields)
		}
		for name, raw := range fields {
			m := last[name]
			v, _ := decodeStd(raw)
			if string(m.Raw) != string(raw) || !reflect.DeepEqual(m.Value, v) {
				t.Fatalf("DecodeObject(%q) member %q = %q %#v, encoding/json %q %#v", data, name, m.Raw, m.Value, raw, v)
			}
		}
	})
}

func TestFastDecoderTakesTheCommonCase(t *testing.T) {
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	for _, s := range slices.Concat(decodeSeeds[:5], []string{deep}) {
		d := decoder{data: []byte(s)}
		if _, ok := d.document(); !ok {
			t.Errorf("the fast decoder left %s to encoding/json", s)
		}
	}
	for _, depth := range []int{maxDepth, maxDepth + 1} {
		data := []byte(strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth))
		_, err := DecodeJSON(data)
		_, wantErr := decodeStd(data)
		if (err == nil) != (wantErr == nil) {
			t.Errorf("nesting %d: error %v, encoding/json %v", depth, err, wantErr)
		}
	}
}

// stdJSON encodes v as encoding/json does with SetEscapeHTML(false).
func stdJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func FuzzAppendJSON(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(`{"b":1,"a":[true,null]}`), "\x00\x1f\u2028\u2029\b\f<>&\"\\\xff\xc3é")
	f.Fuzz(func(t *testing.T, data []byte, s string) {
		for _, v := range []any{s, map[string]any{s: s}, json.Number(s)} {
			if got, want := encoded(appendJSON, v), encoded(stdJSON, v); got != want {
				t.Fatalf("AppendJSON(%q) = %s, encoding/json %s", v, got, want)
			}
		}
		v, err := DecodeJSON(data)
		if err != nil {
			return
		}
		if got, want := encoded(appendJSON, v), encoded(stdJSON, v); got != want {
			t.Fatalf("AppendJSON(%s) = %s, encoding/json %s", data, got, want)
		}
	})
}

// encoded returns what enc writes for v, or "error".
func encoded(enc func(any) ([]byte, error), v any) string {
	b, err := enc(v)
	if err != nil {
		return "error"
	}
	return string(b)
}

func appendJSON(v any) ([]byte, error) { return AppendJSON(nil, v) }
