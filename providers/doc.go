// Package providers is the shape every provider fills and the list of them
// a program wires in: a Provider per provider (its name, its operations,
// its configuration read from the environment, its published rate limit),
// an Operation per task type (its schema, how a payload is prepared, how it
// is sent, which error answer means a duplicate, whom it sends to), and a
// Registry listing the providers, handed to config, the producer and the
// worker; and the JSON value types provider requests are made of
// (Nullable, and Extra with MarshalObject and UnmarshalObject, which keep
// fields a type does not declare).
//
// Each provider lives in a folder below this one (mateo, leadconnector):
// its client, its request and response types, its schemas, its operations,
// its configuration (config.go: its variables, with caarlos0/env tags, and
// what they mean), and its fake for the sandbox in a package of its own
// below (mateofake, leadconnectorfake), so that only the sandbox links it.
// Adding a provider is a folder, a line in builtin, where the providers
// every binary knows are listed, and a line in sandbox/fakes.go, where the
// fakes the sandbox serves are. Nothing registers itself: a program that
// knows another provider appends it to builtin.Registry() and hands the
// list on.
//
// There is no process-wide table: whatever finds an operation by type
// (envelopes, the send handler, credentials, RATE_LIMITS) is handed the
// Registry, so two registries in one process never answer for each other.
package providers
