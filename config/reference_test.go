package config

import (
	"os"
	"strings"
	"testing"

	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/senders"
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

// pagerConfig is a made-up provider's configuration, for the page tests.
type pagerConfig struct {
	BaseURL   string `env:"PAGER_BASE_URL" envDefault:"https://pager.example.com"`
	Token     string `env:"PAGER_TOKEN"`
	TokenFile string `env:"PAGER_TOKEN_FILE,file"`
}

func (*pagerConfig) Validate() error                        { return nil }
func (*pagerConfig) Tokens() (token, list, variable string) { return "", "", "PAGER_TOKEN" }
func (*pagerConfig) Transport(...senders.Option) (*senders.Transport, error) {
	return nil, nil
}

// TestTheProvidersVariablesAreListed: a provider's variables come onto the
// page from its own struct and descriptions, and one it leaves
// undescribed, or describes without reading, fails the page.
func TestTheProvidersVariablesAreListed(t *testing.T) {
	pager := func(docs map[string]string) providers.Registry {
		return append(builtin.Registry(), providers.Provider{
			Name: "pager", NewConfig: func() providers.Config { return &pagerConfig{} }, Variables: docs, RateLimit: "1/s",
		})
	}
	vars, err := variablesOf(pager(map[string]string{"PAGER_BASE_URL": "the pager's API", "PAGER_TOKEN": "the pager's token"}))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Variable{}
	for _, v := range vars {
		byName[v.Name] = v
	}
	for name, want := range map[string]Variable{
		"PAGER_BASE_URL": {Name: "PAGER_BASE_URL", Default: "https://pager.example.com", Doc: "the pager's API"},
		"PAGER_TOKEN":    {Name: "PAGER_TOKEN", File: true, Doc: "the pager's token"},
		"RATE_LIMITS":    {Name: "RATE_LIMITS", Default: "mateo=2/s+10000/24h,leadconnector=100/10s+200000/24h,pager=1/s", Doc: descriptions["RATE_LIMITS"].Doc},
		"WORKER_QUEUES":  {Name: "WORKER_QUEUES", Default: "mateo=2,leadconnector=2,bulk=1", Doc: descriptions["WORKER_QUEUES"].Doc},
	} {
		if got := byName[name]; got != want {
			t.Errorf("%s = %+v, want %+v", name, got, want)
		}
	}
	for _, tc := range []struct {
		docs map[string]string
		want string
	}{
		{map[string]string{"PAGER_BASE_URL": "the pager's API"}, "PAGER_TOKEN (config.pagerConfig.Token) has no description in provider pager's Variables"},
		{map[string]string{"PAGER_BASE_URL": "a", "PAGER_TOKEN": "b", "PAGER_TOKENS": "c"}, "provider pager's Variables has PAGER_TOKENS, which its configuration does not read"},
	} {
		if _, err := variablesOf(pager(tc.docs)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Variables: %v, want %q", err, tc.want)
		}
	}
}
