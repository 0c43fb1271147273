// Package mateo is the client of Mateo's API: POST /send_message and
// PATCH /conversation, with request and response types that mirror Mateo's
// documented schemas field by field, and the schemas themselves for
// validating a payload before it is ever enqueued.
package mateo
