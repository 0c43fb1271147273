package tasks

import (
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
)

// The providers every producer, worker and CLI knows. A provider is a
// folder below providers/ and a line here.
func init() {
	providers.Register(mateo.Operations...)
	providers.Register(leadconnector.Operations...)
}
