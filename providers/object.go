package providers

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Extra holds the fields of a JSON object that its Go struct does not
// define, and the empty values (null, "", [], {}) given for fields the
// struct leaves out when empty. Providers add fields; a payload's unknown
// fields and the nulls it gives are passed through untouched.
type Extra map[string]json.RawMessage

// MarshalObject marshals known, a struct value whose type has no MarshalJSON
// of its own, and appends the fields of extra that known does not define,
// and the empty values extra gives for the fields known left out.
func MarshalObject(known any, extra Extra) ([]byte, error) {
	b, err := json.Marshal(known)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	names := knownFields(reflect.TypeOf(known))
	var written map[string]json.RawMessage
	keys := make([]string, 0, len(extra))
	for k, v := range extra {
		if names[k] {
			if !isEmpty(v) {
				continue // a known field's value is the struct's
			}
			if written == nil {
				if err := json.Unmarshal(b, &written); err != nil {
					return nil, err
				}
			}
			if _, ok := written[k]; ok {
				continue
			}
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf := bytes.NewBuffer(b[:len(b)-1])
	for _, k := range keys {
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(k)
		buf.Write(name)
		buf.WriteByte(':')
		if err := json.Compact(buf, extra[k]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalObject decodes data into known, a pointer to a struct whose type
// has no UnmarshalJSON of its own, and keeps the fields it does not define
// in extra. Names match exactly: encoding/json would also fill a field from
// a member spelled in another case ("Subject" for "subject"), which the
// schemas treat as an unknown field to pass through as it is.
func UnmarshalObject(data []byte, known any, extra *Extra) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	names := knownFields(reflect.TypeOf(known).Elem())
	own := make(map[string]json.RawMessage, len(all))
	*extra = nil
	for k, v := range all {
		if names[k] {
			own[k] = v
			if !isEmpty(v) {
				continue
			}
		}
		if *extra == nil {
			*extra = Extra{}
		}
		(*extra)[k] = v
	}
	data, err := json.Marshal(own)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, known)
}

// isEmpty reports whether v is a value a field with omitempty leaves out:
// null, "", [] or {}.
func isEmpty(v json.RawMessage) bool {
	switch string(bytes.Join(bytes.Fields(v), nil)) {
	case "null", `""`, "[]", "{}":
		return true
	}
	return false
}

var fieldCache sync.Map // reflect.Type -> map[string]bool

// knownFields returns the JSON names of t's fields.
func knownFields(t reflect.Type) map[string]bool {
	if names, ok := fieldCache.Load(t); ok {
		return names.(map[string]bool)
	}
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	fieldCache.Store(t, names)
	return names
}
