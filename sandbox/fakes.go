package sandbox

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/punctualhq/punctual/providers/leadconnector/leadconnectorfake"
	"github.com/punctualhq/punctual/providers/mateo/mateofake"
	"github.com/punctualhq/punctual/sandbox/fake"
)

// The fakes every sandbox serves. A provider's fake is a package below
// its folder and a line here.
func init() {
	Register(mateofake.Provider, leadconnectorfake.Provider)
}

var (
	fakesMu sync.RWMutex
	fakes   []fake.Provider
)

// Register adds providers' fakes to the sandboxes made from then on. It
// panics on a fake without a
// name, a handler or an error shape, whose path is neither "" nor a
// path ("/api/v1"), or whose name or path is taken: mistakes to find at
// start-up.
func Register(fs ...fake.Provider) {
	fakesMu.Lock()
	defer fakesMu.Unlock()
	for _, f := range fs {
		switch {
		case f.Name == "" || f.Handler == nil || f.ErrorBody == nil:
			panic(fmt.Sprintf("sandbox: fake %q has no name, handler or error body", f.Name))
		case f.Path != "" && (!strings.HasPrefix(f.Path, "/") || strings.HasSuffix(f.Path, "/")):
			panic(fmt.Sprintf("sandbox: fake %q: path %q is not \"\" or /path", f.Name, f.Path))
		case slices.ContainsFunc(fakes, func(g fake.Provider) bool { return g.Name == f.Name }):
			panic(fmt.Sprintf("sandbox: fake %q registered twice", f.Name))
		case slices.ContainsFunc(fakes, func(g fake.Provider) bool { return g.Path == f.Path }):
			panic(fmt.Sprintf("sandbox: fake %q: path %q is taken", f.Name, f.Path))
		}
		fakes = append(fakes, f)
	}
}

// Fakes lists the registered fakes, in the order they were registered.
func Fakes() []fake.Provider {
	fakesMu.RLock()
	defer fakesMu.RUnlock()
	return slices.Clone(fakes)
}
