// Package fake is the shape of a provider's half of the sandbox: what a
// provider's fake tells the sandbox (where its API lives, how it answers
// an error, which rate-limit headers it sends, which headers it requires)
// and the handlers of its API. The sandbox does the rest for every fake
// alike: tokens and accounts, rate limits, faults, scripted answers and
// the request log.
//
// A provider's fake lives in a package below the provider's folder
// (providers/mateo/mateofake), so that a program that sends through the
// provider does not link its fake, and is registered with sandbox.Register.
package fake

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/punctualhq/punctual/internal/jsonvalue"
)

// Provider is a provider's fake.
type Provider struct {
	// Name is the provider's name, as its task types spell it.
	Name string
	// Path is where the fake's API lives on the sandbox: the path of the
	// base URL a worker is given ("/api/v1"), "" for the root. A request
	// belongs to the fake with the longest Path it starts with.
	Path string
	// Handler returns a handler of the fake's API, its routes below Path
	// ("POST /send_message" for Path+"/send_message"). Each sandbox calls
	// it once, so that each holds state of its own (the ids it has seen).
	// Requests reach it checked: a bearer token the provider takes, a JSON
	// Content-Type, Check passed, within the rate limit.
	Handler func() http.Handler
	// ErrorBody is the body of an error answer in the provider's shape.
	ErrorBody func(Refusal) any
	// Check refuses a request the provider would refuse for its headers,
	// past the bearer token and the Content-Type; nil takes it. A nil
	// Check takes every request.
	Check func(*http.Request) *Refusal
	// RateHeaders writes the provider's rate-limit headers, on every
	// answer while a limit is set for it.
	RateHeaders func(http.Header, Window)
	// OAuth makes the fake take the access tokens the sandbox's OAuth
	// issues (sandbox.OAuth), and serve its token endpoints below Path.
	OAuth bool
}

// Refusal is an error answer: its HTTP status, the provider's error code
// where it has them, and a message.
type Refusal struct {
	Status  int
	Code    string
	Message string
}

// Window is the state of a token's rate limit after a request: the limit
// per Period and per day, the room left in each, and when each restarts.
type Window struct {
	Count, Remaining int
	Period, Reset    time.Duration

	Daily, DailyRemaining int
	DailyReset            time.Duration
}

// Validate checks a request body against a schema: a 400 naming each
// field that breaks it, nil when none does.
func Validate(schema jsonvalue.Schema, body []byte) *Refusal {
	err := jsonvalue.Validate(schema, "body", body)
	if err == nil {
		return nil
	}
	return &Refusal{Status: http.StatusBadRequest, Code: "invalid_input", Message: strings.ReplaceAll(err.Error(), "\n", "; ")}
}

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
