// The codec comparison: why payloads go through internal/jsonvalue rather
// than a faster general codec. It lives in the bench module so that the
// library's go.mod lists none of the codecs it is weighed against.
package bench_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bytedance/sonic"
	gojson "github.com/goccy/go-json"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/providers/mateo"
)

// batchLine is the payload of a typical batch line: a Mateo message to two
// recipients, with a null the user gave.
var batchLine = []byte(`{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com","full_name":"Ana Silva"},` +
	`{"contact_id":"7d3f2a10-5b6c-4d7e-8f90-a1b2c3d4e5f6","full_name":null}],"subject":"Your order ships tomorrow",` +
	`"text":"Hi Ana, order 1234 ships tomorrow. <b>Thanks</b> & see you","send_after":"2030-11-21T18:00:00+01:00",` +
	`"placeholder_values":["1234","Ana"],"attachments":null}`)

// mateoJSONSchema states the rules of mateo.SendMessageSchema that
// batchLine meets, as a JSON Schema for santhosh-tekuri/jsonschema.
const mateoJSONSchema = `{
  "type": "object", "required": ["from"],
  "$defs": {
    "uuid": {"type": "string", "pattern": "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$"},
    "text": {"type": ["string", "null"]},
    "texts": {"type": ["array", "null"], "items": {"type": "string"}},
    "recipients": {"type": ["array", "null"], "items": {"type": "object", "properties": {
      "handle": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
      "country_codes": {"type": "array", "items": {"type": "string"}},
      "full_name": {"$ref": "#/$defs/text"},
      "contact_id": {"anyOf": [{"$ref": "#/$defs/uuid"}, {"type": "null"}]},
      "external_contact_id": {"$ref": "#/$defs/text"},
      "secondary_external_contact_id": {"$ref": "#/$defs/text"}}}}
  },
  "properties": {
    "from": {"$ref": "#/$defs/uuid"},
    "id": {"anyOf": [{"$ref": "#/$defs/uuid"}, {"type": "null"}]},
    "conversation_id": {"anyOf": [{"$ref": "#/$defs/uuid"}, {"type": "null"}]},
    "conversation_status": {"enum": ["open", "closed", "archived", null]},
    "to": {"$ref": "#/$defs/recipients"}, "cc": {"$ref": "#/$defs/recipients"}, "bcc": {"$ref": "#/$defs/recipients"},
    "subject": {"$ref": "#/$defs/text"}, "html": {"$ref": "#/$defs/text"}, "text": {"$ref": "#/$defs/text"},
    "send_after": {"type": ["string", "null"], "pattern": "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d(:\\d\\d(\\.\\d+)?)?(Z|[+-]\\d\\d:\\d\\d)$"},
    "placeholder_values": {"$ref": "#/$defs/texts"}, "attachments": {"$ref": "#/$defs/texts"},
    "footer": {"$ref": "#/$defs/text"}
  }
}`

// BenchmarkBatchLine is what the choice of JSON codec and schema validator
// costs per batch line: decode the payload (numbers as written), check it
// against Mateo's schema, and encode it back without HTML escaping and with
// sorted names (the body sent and the content key are this text). Each
// alternative replaces one part and keeps the others.
func BenchmarkBatchLine(b *testing.B) {
	compiler := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(mateoJSONSchema))
	if err != nil {
		b.Fatal(err)
	}
	if err := compiler.AddResource("mateo.json", doc); err != nil {
		b.Fatal(err)
	}
	schema, err := compiler.Compile("mateo.json")
	if err != nil {
		b.Fatal(err)
	}
	sonicAPI := sonic.Config{UseNumber: true, SortMapKeys: true}.Froze()

	own := func(data []byte) (any, error) { return jsonvalue.DecodeJSON(data) }
	check := func(v any) error { return jsonvalue.Check(mateo.SendMessageSchema, "payload", v) }
	encode := func(v any) ([]byte, error) { return jsonvalue.AppendJSON(nil, v) }
	cases := []struct {
		name   string
		decode func([]byte) (any, error)
		check  func(any) error
		encode func(any) ([]byte, error)
	}{
		{"own", own, check, encode},
		{"encoding-json", func(data []byte) (any, error) {
			d := json.NewDecoder(bytes.NewReader(data))
			d.UseNumber()
			var v any
			return v, d.Decode(&v)
		}, check, func(v any) ([]byte, error) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			return buf.Bytes(), enc.Encode(v)
		}},
		{"goccy-go-json", func(data []byte) (any, error) {
			d := gojson.NewDecoder(bytes.NewReader(data))
			d.UseNumber()
			var v any
			return v, d.Decode(&v)
		}, check, func(v any) ([]byte, error) { return gojson.Marshal(v) }},
		{"sonic", func(data []byte) (any, error) {
			var v any
			return v, sonicAPI.Unmarshal(data, &v)
		}, check, func(v any) ([]byte, error) { return sonicAPI.Marshal(v) }},
		{"santhosh-tekuri-jsonschema", own, func(v any) error { return schema.Validate(v) }, encode},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(batchLine)))
			for b.Loop() {
				v, err := c.decode(batchLine)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.check(v); err != nil {
					b.Fatal(err)
				}
				if _, err := c.encode(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
