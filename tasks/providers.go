package tasks

import (
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/builtin"
)

// The process's table of package providers starts from the built-in
// providers: the send handler and credentials still look operations up
// there by type rather than in the registry a program wires in. Nothing is
// registered here; config, the producer and the worker add what their
// registry holds with providers.Use.
var _ = providers.SetFallback(builtin.Registry)
