package jsonvalue

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"unicode/utf8"
)

// DecodeJSON decodes data, one JSON value, as encoding/json does with
// UseNumber: objects as map[string]any, arrays as []any, numbers as
// json.Number.
func DecodeJSON(data []byte) (any, error) {
	d := decoder{data: data}
	if v, ok := d.document(); ok {
		return v, nil
	}
	return decodeStd(data)
}

// Member is one member of a JSON object: its name, the bytes of its value,
// and the value decoded as DecodeJSON does.
type Member struct {
	Name  string
	Raw   []byte
	Value any
}

// DecodeObject decodes data, one JSON object, into its members in the
// order they come; in valid UTF-8, a name given twice comes twice. Its
// errors are encoding/json's.
func DecodeObject(data []byte) ([]Member, error) {
	d := decoder{data: data}
	if members, ok := d.members(); ok {
		return members, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	members := make([]Member, 0, len(fields))
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		v, err := decodeStd(fields[name])
		if err != nil {
			return nil, err
		}
		members = append(members, Member{Name: name, Raw: fields[name], Value: v})
	}
	return members, nil
}

// decodeStd decodes with encoding/json: for what the fast decoder leaves to
// it, and for its error messages.
func decodeStd(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// decoder is a fast JSON decoder. It decodes what encoding/json accepts
// to the same values, except strings of invalid UTF-8 (which encoding/json
// mends); for those and for every error it says not ok, and encoding/json
// decides.
type decoder struct {
	data  []byte
	i     int
	depth int
}

// maxDepth is encoding/json's limit on nesting.
const maxDepth = 10000

// document decodes the whole of data as one value.
func (d *decoder) document() (any, bool) {
	v, ok := d.value()
	return v, ok && d.end()
}

// members decodes the whole of data as one object, into its members.
func (d *decoder) members() ([]Member, bool) {
	if d.space(); d.i >= len(d.data) || d.data[d.i] != '{' {
		return nil, false
	}
	d.i++
	var members []Member
	for first := true; ; first = false {
		name, more, ok := d.nextName(first)
		if !ok {
			return nil, false
		}
		if !more {
			return members, d.end()
		}
		d.space()
		start := d.i
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		members = append(members, Member{Name: name, Raw: d.data[start:d.i], Value: v})
	}
}

// end reports whether only white space is left.
func (d *decoder) end() bool {
	d.space()
	return d.i == len(d.data)
}

func (d *decoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, bool) {
	d.space()
	if d.i >= len(d.data) {
		return nil, false
	}
	switch c := d.data[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.string()
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, false
}

// literal reads past text if it comes next.
func (d *decoder) literal(text string) bool {
	if end := d.i + len(text); end <= len(d.data) && string(d.data[d.i:end]) == text {
		d.i = end
		return true
	}
	return false
}

// nextName reads past the '{' or ',' before a member and its name and
// colon; more is false at the closing '}'.
func (d *decoder) nextName(first bool) (name string, more, ok bool) {
	d.space()
	if d.i >= len(d.data) {
		return "", false, false
	}
	switch c := d.data[d.i]; {
	case c == '}':
		d.i++
		return "", false, true
	case !first && c == ',':
		d.i++
		d.space()
	case !first:
		return "", false, false
	}
	if d.i >= len(d.data) || d.data[d.i] != '"' {
		return "", false, false
	}
	name, ok = d.string()
	if d.space(); !ok || d.i >= len(d.data) || d.data[d.i] != ':' {
		return "", false, false
	}
	d.i++
	return name, true, true
}

func (d *decoder) object() (any, bool) {
	if d.depth++; d.depth > maxDepth {
		return nil, false
	}
	defer func() { d.depth-- }()
	d.i++
	obj := map[string]any{}
	for first := true; ; first = false {
		name, more, ok := d.nextName(first)
		if !ok || !more {
			return obj, ok
		}
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		obj[name] = v
	}
}

func (d *decoder) array() (any, bool) {
	if d.depth++; d.depth > maxDepth {
		return nil, false
	}
	defer func() { d.depth-- }()
	d.i++
	items := []any{}
	for first := true; ; first = false {
		d.space()
		if d.i >= len(d.data) {
			return nil, false
		}
		switch c := d.data[d.i]; {
		case c == ']':
			d.i++
			return items, true
		case !first && c == ',':
			d.i++
		case !first:
			return nil, false
		}
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		items = append(items, v)
	}
}

// string decodes the string at d.i, its escapes by encoding/json.
func (d *decoder) string() (string, bool) {
	start := d.i
	d.i++
	escaped, ascii := false, true
	for ; d.i < len(d.data); d.i++ {
		switch c := d.data[d.i]; {
		case c == '"':
			d.i++
			raw := d.data[start:d.i]
			switch {
			case escaped:
				var s string
				return s, json.Unmarshal(raw, &s) == nil
			case !ascii && !utf8.Valid(raw):
				return "", false // encoding/json replaces invalid bytes
			}
			return string(raw[1 : len(raw)-1]), true
		case c == '\\':
			escaped = true
			d.i++
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// number reads a number as JSON writes them: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (d *decoder) number() (any, bool) {
	start := d.i
	if d.data[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.data) && d.data[d.i] == '0':
		d.i++
	case d.digits() == 0:
		return nil, false
	}
	if d.i < len(d.data) && d.data[d.i] == '.' {
		if d.i++; d.digits() == 0 {
			return nil, false
		}
	}
	if d.i < len(d.data) && (d.data[d.i] == 'e' || d.data[d.i] == 'E') {
		if d.i++; d.i < len(d.data) && (d.data[d.i] == '+' || d.data[d.i] == '-') {
			d.i++
		}
		if d.digits() == 0 {
			return nil, false
		}
	}
	return json.Number(d.data[start:d.i]), true
}

// isNumber reports whether s, not empty, is one JSON number and nothing else.
func isNumber(s string) bool {
	if s[0] != '-' && (s[0] < '0' || s[0] > '9') {
		return false
	}
	d := decoder{data: []byte(s)}
	_, ok := d.number()
	return ok && d.i == len(s)
}

func (d *decoder) digits() int {
	start := d.i
	for d.i < len(d.data) && d.data[d.i] >= '0' && d.data[d.i] <= '9' {
		d.i++
	}
	return d.i - start
}
