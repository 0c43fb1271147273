package jsonvalue_test

import (
	"errors"
	"regexp"
	"slices"
	"testing"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/internal/sendertest"
)

// testSchema uses every building block once, so each rule is checked apart
// from the providers' schemas.
var testSchema = jsonvalue.Object{
	Required: []string{"name", "kind"},
	Properties: map[string]jsonvalue.Schema{
		"name":   jsonvalue.String{},
		"kind":   jsonvalue.String{Enum: []string{"a", "b"}},
		"code":   jsonvalue.String{Pattern: regexp.MustCompile(`^[A-Z]{3}$`), Format: "code"},
		"count":  jsonvalue.Number{},
		"ok":     jsonvalue.Boolean{},
		"tags":   jsonvalue.Array{Items: jsonvalue.String{}},
		"note":   jsonvalue.OrNull(jsonvalue.String{}),
		"either": jsonvalue.AnyOf{jsonvalue.String{}, jsonvalue.Array{Items: jsonvalue.String{}}},
		"items": jsonvalue.OrNull(jsonvalue.Array{Items: jsonvalue.Object{
			Required:   []string{"id"},
			Properties: map[string]jsonvalue.Schema{"id": jsonvalue.Number{}, "label": jsonvalue.OrNull(jsonvalue.String{})},
		}}),
	},
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want []string
	}{
		{"required only", `{"name":"n","kind":"a"}`, nil},
		{"every field", `{"name":"n","kind":"b","code":"ABC","count":-1.5e3,"ok":false,"tags":[],"note":"x","either":"s","items":[{"id":1,"label":"l"}]}`, nil},
		{"unknown fields top-level and nested", `{"name":"n","kind":"a","extra":{"x":[1,null]},"items":[{"id":1,"more":true}]}`, nil},
		{"required missing", `{}`, []string{"payload.name: required", "payload.kind: required"}},
		{"required null is present", `{"name":null,"kind":"a"}`, []string{"payload.name: must be a string, got null"}},

		{"string got number", `{"name":1,"kind":"a"}`, []string{"payload.name: must be a string, got a number"}},
		{"string got object", `{"name":{},"kind":"a"}`, []string{"payload.name: must be a string, got an object"}},
		{"enum", `{"name":"n","kind":"c"}`, []string{`payload.kind: must be one of a, b: "c"`}},
		{"enum is case-sensitive", `{"name":"n","kind":"A"}`, []string{`payload.kind: must be one of a, b: "A"`}},
		{"pattern", `{"name":"n","kind":"a","code":"abc"}`, []string{`payload.code: not a code: "abc"`}},
		{"number got string", `{"name":"n","kind":"a","count":"1"}`, []string{"payload.count: must be a number, got a string"}},
		{"boolean got null", `{"name":"n","kind":"a","ok":null}`, []string{"payload.ok: must be a boolean, got null"}},
		{"array got object", `{"name":"n","kind":"a","tags":{}}`, []string{"payload.tags: must be an array, got an object"}},
		{"array item", `{"name":"n","kind":"a","tags":["x",true,"y",2]}`, []string{
			"payload.tags[1]: must be a string, got a boolean",
			"payload.tags[3]: must be a string, got a number",
		}},

		{"or null: null", `{"name":"n","kind":"a","note":null,"items":null}`, nil},
		{"or null: wrong type", `{"name":"n","kind":"a","note":1}`, []string{"payload.note: must be a string or null, got a number"}},
		{"any of: array", `{"name":"n","kind":"a","either":["x"]}`, nil},
		{"any of: wrong type", `{"name":"n","kind":"a","either":1}`, []string{"payload.either: must be a string or an array, got a number"}},
		{"any of: bad item of the matching alternative", `{"name":"n","kind":"a","either":["x",1]}`, []string{"payload.either[1]: must be a string, got a number"}},
		{"or null: bad item of an object in an array", `{"name":"n","kind":"a","items":[{"id":"1"}]}`, []string{"payload.items[0].id: must be a number, got a string"}},
		{"or null: item of the wrong type", `{"name":"n","kind":"a","items":[{"id":1},"x"]}`, []string{"payload.items[1]: must be an object, got a string"}},
		{"or null: several problems in items", `{"name":"n","kind":"a","items":[{"id":1},{"label":2}]}`, []string{
			"payload.items[1].id: required",
			"payload.items[1].label: must be a string or null, got a number",
		}},
		{"errors in a stable order", `{"tags":[1],"count":"x","code":"no"}`, []string{
			"payload.name: required",
			"payload.kind: required",
			`payload.code: not a code: "no"`,
			"payload.count: must be a number, got a string",
			"payload.tags[0]: must be a string, got a number",
		}},

		{"root is an array", `[]`, []string{"payload: must be an object, got an array"}},
		{"root is null", `null`, []string{"payload: must be an object, got null"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := jsonvalue.Validate(testSchema, "payload", []byte(tt.json))
			if got := sendertest.Problems(err); !slices.Equal(got, tt.want) {
				t.Errorf("Validate(%s)\n got: %q\nwant: %q", tt.json, got, tt.want)
			}
		})
	}
}

func TestValidateFieldError(t *testing.T) {
	t.Parallel()
	err := jsonvalue.Validate(testSchema, "line 3: payload", []byte(`{"name":"n","kind":"a","tags":[1]}`))
	var fe *jsonvalue.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v, want a *FieldError", err)
	}
	if fe.Path != "line 3: payload.tags[0]" || fe.Reason != "must be a string, got a number" {
		t.Errorf("FieldError = {%q, %q}", fe.Path, fe.Reason)
	}
}

// Data that is not one JSON value is a single error at the root.
func TestValidateInvalidJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want string
	}{
		{"empty", ``, "payload: invalid JSON: EOF"},
		{"truncated", `{"name":`, "payload: invalid JSON: unexpected EOF"},
		{"not JSON", `name=n`, "payload: invalid JSON: invalid character 'a' in literal null (expecting 'u')"},
		{"second value", `{"name":"n","kind":"a"} {}`, "payload: invalid JSON: data after the JSON value"},
		{"trailing garbage", `{"name":"n","kind":"a"}x`, "payload: invalid JSON: data after the JSON value"},
		{"trailing comma", `{"name":"n","kind":"a"},`, "payload: invalid JSON: data after the JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := jsonvalue.Validate(testSchema, "payload", []byte(tt.data))
			fe, ok := err.(*jsonvalue.FieldError)
			if !ok {
				t.Fatalf("error = %#v, want a single *FieldError", err)
			}
			if fe.Path != "payload" || err.Error() != tt.want {
				t.Errorf("error = %q at %q, want %q", err, fe.Path, tt.want)
			}
		})
	}
	t.Run("trailing space", func(t *testing.T) {
		t.Parallel()
		if err := jsonvalue.Validate(testSchema, "payload", []byte(" {\"name\":\"n\",\"kind\":\"a\"}\n\t ")); err != nil {
			t.Errorf("error = %v, want none", err)
		}
	})
}
