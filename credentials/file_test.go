package credentials_test

import (
	"strings"
	"testing"

	"github.com/punctualhq/punctual/credentials"
)

// TestParseFileNamesTheLineOfAYAMLFault: yaml.v3 names the line before the
// enclosing block (line 1 for any fault in the list), which sends the
// reader to the wrong place.
func TestParseFileNamesTheLineOfAYAMLFault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"tab on line 2", "accounts:\n\t- name: a\n", "line 2: "},
		{"unclosed flow on line 2", "accounts:\n  - {name: a, provider: mateo, token: sekrit\n", "line 2: "},
		{"indentation on line 6", `accounts:
  - name: a
    provider: mateo
    token: sekrit
  - name: b
   provider: mateo
    token: sekrit2
`, "line 6: "},
		{"indentation on line 10", `accounts:
  - name: a
    provider: mateo
    token: sekrit
  - name: b
    provider: mateo
    token: sekrit2
    window:
      tz: auto
     days: mon-fri
`, "line 10: "},
		{"unknown field on line 4", "accounts:\n  - name: a\n    provider: mateo\n    tokn: sekrit\n", "line 4: field tokn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := credentials.ParseFile([]byte(tc.yaml), providerNames)
			if err == nil || !strings.HasPrefix(err.Error(), "not valid YAML: "+tc.want) {
				t.Fatalf("error %v, want one starting %q", err, "not valid YAML: "+tc.want)
			}
			if strings.Contains(err.Error(), "sekrit") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}
