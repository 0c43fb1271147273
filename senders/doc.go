// Package senders holds what the provider clients share: the JSON value
// types that keep a payload faithful (Nullable, Object), the typed
// *APIError every non-2xx answer becomes, and Policy, the one place that
// classifies an answer as success, duplicate, retry, rate-limit wait,
// permanent failure or unknown outcome (a request written but not answered).
//
// The clients themselves live in the subpackages mateo and leadconnector.
package senders
