package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/punctualhq/punctual/internal/jsonvalue"
)

// contentKeyPrefix starts every key ContentKey derives, so that it cannot
// be taken for a key a producer chose.
const contentKeyPrefix = "content:"

// ContentKey derives an idempotency key from what the envelope says, for an
// envelope that has no key: the same send always gets the same key, and so
// the same task id and Mateo message id, however it is spelled. The key is
// a hash of the canonical JSON of the type, the account (DefaultAccount
// when empty), process_at and expires_at (in UTC, to the nanosecond, when
// set) and the payload (names sorted, no white space, the fewest escapes,
// numbers as written) and the queue (the provider's when none): field
// order, white space, escapes, an explicit default account or queue and the
// zone or precision of a time do not change it. The envelope's own key does
// not count. The queue does: content keys then never meet in two queues,
// and need no record of the queue that holds them. The window and the
// group count when given, as process_at does: the window decides when the
// send goes and the group which cancel stops it, so the same message with
// another window or group is another send; an envelope without them keeps
// the key it had before they existed.
//
// The payload is the tree ParseEnvelope decoded; an envelope built by hand
// has its payload decoded, and an error when that fails.
func (e *Envelope) ContentKey() (string, error) {
	tree, err := e.payload()
	if err != nil {
		return "", &jsonvalue.FieldError{Path: "payload", Reason: "invalid JSON: " + err.Error()}
	}
	// The members in the order of their names, as AppendJSON writes an object.
	var buf [1024]byte
	b := append(buf[:0], `{"account":`...)
	b = appendCanonicalString(b, e.account())
	b = appendCanonicalTime(b, `,"expires_at":`, e.ExpiresAt)
	if e.Group != "" {
		b = append(b, `,"group":`...)
		b = appendCanonicalString(b, e.Group)
	}
	b = append(b, `,"payload":`...)
	if b, err = jsonvalue.AppendJSON(b, tree); err != nil {
		return "", &jsonvalue.FieldError{Path: "payload", Reason: err.Error()}
	}
	b = appendCanonicalTime(b, `,"process_at":`, e.ProcessAt)
	b = append(b, `,"queue":`...)
	b = appendCanonicalString(b, e.QueueName())
	b = append(b, `,"type":`...)
	b = appendCanonicalString(b, e.Type)
	b = appendCanonicalWindow(b, e.Window)
	b = append(b, '}')

	sum := sha256.Sum256(b)
	var key [len(contentKeyPrefix) + 32]byte
	copy(key[:], contentKeyPrefix)
	hex.Encode(key[len(contentKeyPrefix):], sum[:16])
	return string(key[:]), nil
}

// appendCanonicalString appends s quoted as AppendJSON quotes it.
func appendCanonicalString(b []byte, s string) []byte {
	b, _ = jsonvalue.AppendJSON(b, s) // a string always encodes
	return b
}

// appendCanonicalWindow appends the window member unless w is zero: a
// name as a string, a spec as an object with its members sorted and no
// empty days.
func appendCanonicalWindow(b []byte, w Window) []byte {
	if w.IsZero() {
		return b
	}
	b = append(b, `,"window":`...)
	if w.Name != "" {
		return appendCanonicalString(b, w.Name)
	}
	b = append(b, '{')
	if w.Spec.Days != "" {
		b = append(b, `"days":`...)
		b = appendCanonicalString(b, w.Spec.Days)
		b = append(b, ',')
	}
	b = append(b, `"from":`...)
	b = appendCanonicalString(b, w.Spec.From)
	b = append(b, `,"to":`...)
	b = appendCanonicalString(b, w.Spec.To)
	b = append(b, `,"tz":`...)
	b = appendCanonicalString(b, w.Spec.TZ)
	return append(b, '}')
}

// appendCanonicalTime appends the member name and t in UTC, the same text
// for the same instant, unless t is zero.
func appendCanonicalTime(b []byte, name string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = append(b, name...)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
