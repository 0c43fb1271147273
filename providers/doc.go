// Package providers is the shape every provider fills and the registry of
// them: an Operation per task type (its schema, how a payload is prepared,
// how it is sent, which error answer means a duplicate), added with
// Register and found with Lookup by the producer, the worker's handler,
// the CLI and the metrics; and the JSON value types provider requests are
// made of (Nullable, Extra).
//
// Each provider lives in a folder below this one (mateo, leadconnector):
// its client, its request and response types, its schemas, its operations,
// and its half of the sandbox in a package of its own below (mateofake),
// so that only the sandbox links it. Adding a provider is a folder, a line
// in package tasks, where the providers every binary knows are registered,
// and a line in package sandbox, where the fakes it serves are.
package providers
