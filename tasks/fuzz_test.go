package tasks

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/jsonvalue"
)

// FuzzParseEnvelope feeds any bytes to the envelope parser: it must not
// panic or hang, must explain every rejection by field, and a valid
// envelope must make a task whose payload the worker can read.
// Longer runs: go test -fuzz FuzzParseEnvelope -fuzztime 1m ./tasks
func FuzzParseEnvelope(f *testing.F) {
	for _, seed := range []string{
		`{"type":"mateo:send_message","account":"acme","key":"k","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":["a","b"]}],"send_after":"2030-01-01T00:00Z"}}`,
		`{"type":"mateo:update_conversation","payload":{"id":"9b2f6c3e-1d4a-4e8b-9c7d-2a5f8e1b3c6d","assignee_id":null,"status":"closed"}}`,
		`{"type":"leadconnector:send_message","expires_at":"2031-01-01T00:00:00Z","payload":{"type":"Email","contactId":"c","scheduledTimestamp":1.5e9,"forward":{"isForwarded":true}}}`,
		`{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c","scheduledTimestamp":1e308}}`,
		`{"type":"mateo:send_message","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","send_after":"2030-01-01T00:00:00.1234567891234Z"}}`,
		`{"type":"mateo:send_message","payload":{"to":[[[[[[[[[[]]]]]]]]]]}}`,
		"{\"type\":\"\xff\"}", `[]`, `null`, `{}`, ``,
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope(data, builtinReg)
		if err != nil {
			return
		}
		task, err := newTask(e, Options{Providers: builtinReg, MaxRetry: 3, Now: func() time.Time { return now }})
		if err != nil {
			var fe *jsonvalue.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("a valid envelope gave a task error that names no field: %v\n%s", err, data)
			}
			return
		}
		if p, err := DecodePayload(task.Payload()); err != nil || !json.Valid(p.Body) {
			t.Fatalf("the task payload does not decode: %v\n%s", err, task.Payload())
		}
	})
}
