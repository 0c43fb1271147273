// Package senders is the HTTP transport every provider sends through, and
// the one place an answer is classified:
//
//   - Transport makes a provider's JSON requests (base URL, bearer token,
//     the headers every request carries, no redirects followed, a bounded
//     read of the answer); CheckBaseURL refuses plain http:// off loopback,
//     so tokens never cross a network in clear text. Call and Encode are
//     what a provider's operations send with.
//   - *APIError is every non-2xx answer, with the provider's message and
//     the wait it asked for (RetryAfter reads Retry-After and the
//     providers' rate-limit headers).
//   - Policy classifies an answer or error as success, duplicate, retry,
//     rate-limit wait, permanent failure or unknown outcome (a request
//     written but not answered); RETRY_STATUSES and MAX_PROVIDER_WAIT
//     configure it.
//
// The providers' clients, their request types and the JSON value types
// those are made of live in package providers and its subpackages
// (providers/mateo, providers/leadconnector).
package senders
