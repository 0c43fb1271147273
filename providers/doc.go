// Package providers is the shape every provider fills and the registry of
// them: an Operation per task type (its schema, how a payload is prepared,
// how it is sent, which error answer means a duplicate, whom it sends to),
// added with Register and found with Lookup by the producer, the worker's
// handler, the CLI and the metrics; and the JSON value types provider
// requests are made of (Nullable, and Extra with MarshalObject and
// UnmarshalObject, which keep fields a type does not declare).
//
// Each provider lives in a folder below this one (mateo, leadconnector):
// its client, its request and response types, its schemas, its operations,
// and its fake for the sandbox in a package of its own below (mateofake,
// leadconnectorfake), so that only the sandbox links it. Adding a provider
// is a folder, a line in tasks/providers.go, where the providers every
// binary knows are registered, and a line in sandbox/fakes.go, where the
// fakes the sandbox serves are.
package providers
