package providers

import (
	"bytes"
	"encoding/json"
)

// Nullable is a JSON value that may be absent, null, or set. Use it, with the
// `omitzero` tag option, for fields whose schema allows null, so that a null
// the user gave is sent as null and an absent field stays absent.
type Nullable[T any] struct {
	// Value is the value when Valid.
	Value T
	// Valid is true when the value is set and not null.
	Valid bool
	// Present is true when the field is present (null or not).
	Present bool
}

// Some returns a Nullable holding v.
func Some[T any](v T) Nullable[T] { return Nullable[T]{Value: v, Valid: true, Present: true} }

// Null returns a Nullable that is sent as JSON null.
func Null[T any]() Nullable[T] { return Nullable[T]{Present: true} }

// IsZero reports whether the field is absent; `omitzero` uses it.
func (n Nullable[T]) IsZero() bool { return !n.Present }

// MarshalJSON writes null or the value.
func (n Nullable[T]) MarshalJSON() ([]byte, error) {
	if !n.Valid {
		return []byte("null"), nil
	}
	return json.Marshal(n.Value)
}

// UnmarshalJSON reads null or the value.
func (n *Nullable[T]) UnmarshalJSON(data []byte) error {
	n.Present = true
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		var zero T
		n.Value, n.Valid = zero, false
		return nil
	}
	if err := json.Unmarshal(data, &n.Value); err != nil {
		return err
	}
	n.Valid = true
	return nil
}
