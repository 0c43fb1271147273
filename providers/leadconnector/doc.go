// Package leadconnector is the client of LeadConnector's (HighLevel's)
// Conversations API: POST /conversations/messages with the Version header,
// with request and response types that mirror the documented schema field
// by field, and the schema itself for validating a payload before it is
// ever enqueued. LeadConnector has no idempotency key: a send retried after
// a lost answer may be sent twice.
package leadconnector
