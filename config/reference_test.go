package config

import (
	"os"
	"strings"
	"testing"
)

// TestConfigurationPage fails when docs/configuration.md's table and
// Config's declarations disagree: a variable added, renamed, given another
// default or left undocumented.
func TestConfigurationPage(t *testing.T) {
	const path = "../docs/configuration.md"
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := UpdatePage(string(page))
	if err != nil {
		t.Fatal(err)
	}
	if want != string(page) {
		t.Errorf("%s is out of date with package config: run go generate ./config", path)
	}
}

// TestVariablesFollowTheTags checks the reference against the struct tags
// themselves, so that the page test cannot pass on a table read wrong.
func TestVariablesFollowTheTags(t *testing.T) {
	vars, err := Variables()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Variable{}
	for _, v := range vars {
		byName[v.Name] = v
	}
	for name, want := range map[string]Variable{
		"REDIS_URL":         {Default: DefaultRedisURL, File: true},
		"MATEO_BASE_URL":    {Default: "https://integration.getmateo.com/api/v1"},
		"MATEO_TOKEN":       {File: true},
		"WORKER_QUEUES":     {Default: "mateo=2,leadconnector=2,bulk=1"},
		"ARCHIVE_RETENTION": {Default: "2160h"},
		"CREDENTIALS_KEY":   {File: true},
	} {
		got, ok := byName[name]
		if !ok {
			t.Errorf("%s: missing", name)
			continue
		}
		if got.Default != want.Default || got.File != want.File {
			t.Errorf("%s: default %q, _FILE %v; want %q, %v", name, got.Default, got.File, want.Default, want.File)
		}
	}
	for _, v := range vars {
		if base, ok := strings.CutSuffix(v.Name, "_FILE"); ok {
			if _, secret := byName[base]; secret {
				t.Errorf("%s listed as a variable of its own, not as %s's _FILE form", v.Name, base)
			}
		}
	}
}

// TestUpdatePageNeedsMarkers: a page that lost its markers is an error,
// not a page silently left as it was.
func TestUpdatePageNeedsMarkers(t *testing.T) {
	if _, err := UpdatePage("# Configuration\n"); err == nil {
		t.Fatal("UpdatePage accepted a page without markers")
	}
}
