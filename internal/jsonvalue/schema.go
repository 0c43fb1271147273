package jsonvalue

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Schema checks a JSON value decoded with json.Decoder.UseNumber against a
// provider's documented request schema. Unknown object fields are allowed:
// providers add fields, and the worker passes them through.
type Schema interface {
	// check appends one *FieldError per problem found at path.
	check(path path, v any, errs *[]error)
	// describe names the accepted JSON types: "a string", "an array".
	describe() string
}

// FieldError is a value that breaks a documented schema rule.
type FieldError struct {
	// Path is the JSON path of the value: payload.to[2].contact_id.
	Path string
	// Reason says what is wrong: `not a UUID: "42"`.
	Reason string

	mismatch bool // the value is of a type the schema does not accept
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Reason }

// Validate decodes data as one JSON value and checks it against s, naming
// every problem by its JSON path below root. The error joins one
// *FieldError per problem, or is a single *FieldError for invalid JSON.
func Validate(s Schema, root string, data []byte) error {
	v, err := DecodeJSON(data)
	if err != nil {
		return &FieldError{Path: root, Reason: "invalid JSON: " + err.Error()}
	}
	return Check(s, root, v)
}

// Check checks v, a value decoded by DecodeJSON, against s, as Validate does.
func Check(s Schema, rootPath string, v any) error {
	var errs []error
	s.check(root(rootPath), v, &errs)
	return errors.Join(errs...)
}

// String accepts a JSON string, optionally limited to Enum values or to
// those matching Pattern (then Format names the form in errors: "UUID").
type String struct {
	Enum    []string
	Pattern *regexp.Regexp
	Format  string
}

func (s String) describe() string { return "a string" }

func (s String) check(path path, v any, errs *[]error) {
	str, ok := v.(string)
	switch {
	case !ok:
		*errs = append(*errs, typeError(path, s, v))
	case s.Enum != nil && !slices.Contains(s.Enum, str):
		*errs = append(*errs, &FieldError{Path: path.String(), Reason: fmt.Sprintf("must be one of %s: %q", strings.Join(s.Enum, ", "), str)})
	case s.Pattern != nil && !s.Pattern.MatchString(str):
		*errs = append(*errs, &FieldError{Path: path.String(), Reason: fmt.Sprintf("not a %s: %q", s.Format, str)})
	}
}

// Number accepts a JSON number.
type Number struct{}

func (Number) describe() string { return "a number" }

func (n Number) check(path path, v any, errs *[]error) {
	if _, ok := v.(json.Number); !ok {
		*errs = append(*errs, typeError(path, n, v))
	}
}

// Boolean accepts true and false.
type Boolean struct{}

func (Boolean) describe() string { return "a boolean" }

func (b Boolean) check(path path, v any, errs *[]error) {
	if _, ok := v.(bool); !ok {
		*errs = append(*errs, typeError(path, b, v))
	}
}

// Array accepts a JSON array whose items all match Items.
type Array struct{ Items Schema }

func (a Array) describe() string { return "an array" }

func (a Array) check(path path, v any, errs *[]error) {
	items, ok := v.([]any)
	if !ok {
		*errs = append(*errs, typeError(path, a, v))
		return
	}
	parent := path.String()
	for i, value := range items {
		a.Items.check(item(parent, i), value, errs)
	}
}

// Object accepts a JSON object whose Properties match their schemas and
// that has every Required field. Other fields are allowed.
type Object struct {
	Properties map[string]Schema
	Required   []string
}

func (o Object) describe() string { return "an object" }

func (o Object) check(path path, v any, errs *[]error) {
	obj, ok := v.(map[string]any)
	if !ok {
		*errs = append(*errs, typeError(path, o, v))
		return
	}
	parent := path.String()
	for _, name := range o.Required {
		if _, ok := obj[name]; !ok {
			*errs = append(*errs, &FieldError{Path: field(parent, name).String(), Reason: "required"})
		}
	}
	// Fields are checked in the map's order; the errors of each are then
	// put in the order of the field names, to read the same every time.
	type span struct {
		name       string
		start, end int
	}
	var spans []span
	from := len(*errs)
	for name, value := range obj {
		if s, ok := o.Properties[name]; ok {
			start := len(*errs)
			s.check(field(parent, name), value, errs)
			if len(*errs) > start {
				spans = append(spans, span{name, start, len(*errs)})
			}
		}
	}
	if len(spans) > 1 {
		slices.SortFunc(spans, func(a, b span) int { return strings.Compare(a.name, b.name) })
		sorted := make([]error, 0, len(*errs)-from)
		for _, s := range spans {
			sorted = append(sorted, (*errs)[s.start:s.end]...)
		}
		copy((*errs)[from:], sorted)
	}
}

// AnyOf accepts a value that matches one of its schemas.
type AnyOf []Schema

func (a AnyOf) describe() string {
	names := make([]string, len(a))
	for i, s := range a {
		names[i] = s.describe()
	}
	return strings.Join(names, " or ")
}

func (a AnyOf) check(path path, v any, errs *[]error) {
	start := len(*errs)
	var first []error
	for _, s := range a {
		s.check(path, v, errs) // appended to errs, then taken back
		e := (*errs)[start:]
		if len(e) == 0 {
			return
		}
		// Report the problems of the alternative of the value's own type.
		if first == nil || !isTypeError(e, path) {
			first = slices.Clone(e)
		}
		*errs = (*errs)[:start]
	}
	if isTypeError(first, path) {
		first = []error{typeError(path, a, v)}
	}
	*errs = append(*errs, first...)
}

// OrNull accepts null or a value matching its schema.
func OrNull(s Schema) Schema { return AnyOf{s, null{}} }

type null struct{}

func (null) describe() string { return "null" }

func (n null) check(path path, v any, errs *[]error) {
	if v != nil {
		*errs = append(*errs, typeError(path, n, v))
	}
}

// path is where a value is: its parent's path, joined with its name or
// index only for an error.
type path struct {
	parent string // the parent's path, or the whole path of the root
	name   string // a field's name
	index  int    // an item's index; -1 for a field or the root
}

func root(p string) path                 { return path{parent: p, index: -1} }
func field(parent, name string) path     { return path{parent, name, -1} }
func item(parent string, index int) path { return path{parent: parent, index: index} }

func (p path) String() string {
	switch {
	case p.name != "":
		return p.parent + "." + p.name
	case p.index >= 0:
		return p.parent + "[" + strconv.Itoa(p.index) + "]"
	}
	return p.parent
}

func typeError(path path, s Schema, v any) error {
	return &FieldError{path.String(), fmt.Sprintf("must be %s, got %s", s.describe(), jsonType(v)), true}
}

// isTypeError reports whether errs is only that the value at path is of a
// type the schema does not accept; a mismatch deeper down, in an item or a
// field, means the value itself has the right type.
func isTypeError(errs []error, path path) bool {
	if len(errs) != 1 {
		return false
	}
	fe, ok := errs[0].(*FieldError)
	return ok && fe.mismatch && fe.Path == path.String()
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}
