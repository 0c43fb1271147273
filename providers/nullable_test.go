package providers_test

import (
	"encoding/json"
	"testing"

	"github.com/punctualhq/punctual/providers"
)

type nullables struct {
	S providers.Nullable[string]   `json:"s,omitzero"`
	L providers.Nullable[[]int]    `json:"l,omitzero"`
	R providers.Nullable[struct{}] `json:"r,omitzero"`
}

func TestNullable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want providers.Nullable[string]
	}{
		{"absent", `{}`, providers.Nullable[string]{}},
		{"null", `{"s":null}`, providers.Null[string]()},
		{"value", `{"s":"Hi"}`, providers.Some("Hi")},
		{"empty string is a value", `{"s":""}`, providers.Some("")},
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
	v := nullables{S: providers.Some("x"), L: providers.Null[[]int](), R: providers.Some(struct{}{})}
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
	v := nullables{S: providers.Some("x"), L: providers.Some([]int{1})}
	if err := json.Unmarshal([]byte(`{"s":null,"l":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.S != providers.Null[string]() || v.L.Valid || v.L.Value != nil || !v.L.Present {
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
