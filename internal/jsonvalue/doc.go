// Package jsonvalue decodes, encodes and checks the JSON values of
// payloads: DecodeJSON reads them as encoding/json does with UseNumber
// (numbers kept as written), AppendJSON writes them back compact with
// sorted names and no HTML escaping (the text sent and the text content
// keys are computed on), and Check validates them against a provider's
// documented schema with errors that name the JSON path:
// `payload.to[2].contact_id: not a UUID: "42"`.
//
// Both codecs are fuzzed against encoding/json, so that a content key
// never changes with the codec. BenchmarkBatchLine, in the bench module
// (cd bench && go test -run '^$' -bench BatchLine .), shows what this
// package costs per batch line against encoding/json, goccy/go-json, sonic
// and santhosh-tekuri/jsonschema.
package jsonvalue
