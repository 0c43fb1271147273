package senders_test

import (
	"encoding/json"
	"testing"

	"github.com/punctualhq/punctual/senders"
)

type nullables struct {
	S senders.Nullable[string]   `json:"s,omitzero"`
	L senders.Nullable[[]int]    `json:"l,omitzero"`
	R senders.Nullable[struct{}] `json:"r,omitzero"`
}

func TestNullable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want senders.Nullable[string]
	}{
		{"absent", `{}`, senders.Nullable[string]{}},
		{"null", `{"s":null}`, senders.Null[string]()},
		{"value", `{"s":"Hi"}`, senders.Some("Hi")},
		{"empty string is a value", `{"s":""}`, senders.Some("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got nullables
			if err := json.Unmarshal([]byte(tt.json), &got); err != nil {
				t.Fatal(err)
			}
			if got.S != tt.want {
				t.Errorf("decoded %+v, want %+v", got.S, tt.want)
			}
			if got.S.IsZero() != !tt.want.Present {
				t.Errorf("IsZero() = %t, want %t", got.S.IsZero(), !tt.want.Present)
			}
			out, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.json {
				t.Errorf("encoded %s, want %s", out, tt.json)
			}
		})
	}
}

func TestNullableConstructors(t *testing.T) {
	t.Parallel()
	v := nullables{S: senders.Some("x"), L: senders.Null[[]int](), R: senders.Some(struct{}{})}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"s":"x","l":null,"r":{}}`; string(out) != want {
		t.Errorf("encoded %s, want %s", out, want)
	}
}

// Decoding null over a value clears it.
func TestNullableNullOverValue(t *testing.T) {
	t.Parallel()
	v := nullables{S: senders.Some("x"), L: senders.Some([]int{1})}
	if err := json.Unmarshal([]byte(`{"s":null,"l":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.S != senders.Null[string]() || v.L.Valid || v.L.Value != nil || !v.L.Present {
		t.Errorf("after null: %+v %+v", v.S, v.L)
	}
}

func TestNullableWrongType(t *testing.T) {
	t.Parallel()
	var v nullables
	if err := json.Unmarshal([]byte(`{"s":1}`), &v); err == nil {
		t.Errorf("decoding a number into Nullable[string]: no error, got %+v", v.S)
	}
}
