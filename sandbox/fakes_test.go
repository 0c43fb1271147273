package sandbox_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/sandbox/fake"
)

func TestRegisterRefusesMistakes(t *testing.T) {
	t.Parallel()
	good := func(name, path string) fake.Provider {
		return fake.Provider{Name: name, Path: path, Handler: func() http.Handler { return http.NewServeMux() }, ErrorBody: func(r fake.Refusal) any { return r }}
	}
	noHandler := good("nohandler", "/nohandler")
	noHandler.Handler = nil
	for _, tc := range []struct {
		name string
		fake fake.Provider
		want string
	}{
		{"no handler", noHandler, "no name, handler or error body"},
		{"name taken", good("mateo", "/other"), `"mateo" registered twice`},
		{"path taken", good("other", "/api/v1"), `path "/api/v1" is taken`},
		{"root taken", good("other", ""), `path "" is taken`},
		{"relative path", good("other", "pages"), `path "pages" is not`},
		{"trailing slash", good("other", "/pages/"), `path "/pages/" is not`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r, _ := recover().(string); !strings.Contains(r, tc.want) {
					t.Errorf("panic %q, want one with %q", r, tc.want)
				}
			}()
			sandbox.Register(tc.fake)
		})
	}
	for _, f := range sandbox.Fakes() {
		if f.Name != "mateo" && f.Name != "leadconnector" {
			t.Errorf("%q was registered by a refused call", f.Name)
		}
	}
}
