// Package builtin lists the providers every binary of the project knows.
// A provider is a folder below providers/ and a line here; a program or a
// test that knows more appends its own to Registry's list.
package builtin

import (
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
)

// Registry returns the built-in providers, a fresh list each call so that
// a caller may append to it.
func Registry() providers.Registry {
	return providers.Registry{
		mateo.Provider(),
		leadconnector.Provider(),
	}
}
