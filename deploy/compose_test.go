// Package deploy holds the files an operator deploys with: the Helm chart,
// the Compose overlays, the Prometheus alerts and the Grafana dashboard. Its
// tests check, without Docker or a cluster, that those files agree with what
// the binaries read and export: a renamed variable or metric cannot leave a
// deployment that ignores it, an alert that never fires or an empty panel.
package deploy

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/providers/leadconnector"
)

// compose is the part of a Compose file these tests read.
type compose struct {
	Services map[string]service `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type service struct {
	Environment map[string]string `yaml:"environment"`
	Secrets     []string          `yaml:"secrets"`
	Volumes     []string          `yaml:"volumes"`
	Healthcheck *struct {
		Test    []string `yaml:"test"`
		Timeout string   `yaml:"timeout"`
	} `yaml:"healthcheck"`
}

func readCompose(t *testing.T, name string) compose {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, ok := c.Services["worker"]; !ok {
		t.Fatalf("%s: no worker service", name)
	}
	return c
}

// secretVars are the variables that hold a secret: in a Compose file they
// must come from a file (their _FILE form), never be written out.
var secretVars = []string{
	"REDIS_PASSWORD", "MATEO_TOKEN", "MATEO_ACCOUNTS", "LEADCONNECTOR_TOKEN", "LEADCONNECTOR_ACCOUNTS",
	"MONITOR_PASSWORD", "LEADCONNECTOR_CLIENT_SECRET", "CREDENTIALS_KEY",
}

func TestComposeHealthcheckRunsTheWorkerBinary(t *testing.T) {
	t.Parallel()
	hc := readCompose(t, "../docker-compose.yml").Services["worker"].Healthcheck
	if hc == nil {
		t.Fatal("the worker has no healthcheck")
	}
	if want := []string{"CMD", "/usr/local/bin/worker", "health"}; !slices.Equal(hc.Test, want) {
		t.Errorf("healthcheck test %q, want %q (the image has no shell or curl)", hc.Test, want)
	}
	// `worker health` gives up after 2 s; Docker must not kill it first.
	if d, err := time.ParseDuration(hc.Timeout); err != nil || d <= 2*time.Second {
		t.Errorf("healthcheck timeout %q, want above the command's own 2 s", hc.Timeout)
	}
}

// TestComposeAccountsOverlayIsAValidConfiguration merges
// deploy/docker-compose.accounts.yml over docker-compose.yml as
// `docker compose -f … -f …` does, and loads the worker's environment with
// the secrets and the mounted directory in place.
func TestComposeAccountsOverlayIsAValidConfiguration(t *testing.T) {
	t.Parallel()
	base, overlay := readCompose(t, "../docker-compose.yml"), readCompose(t, "docker-compose.accounts.yml")
	worker := base.Services["worker"]
	over := overlay.Services["worker"]
	environ := map[string]string{}
	for _, e := range []map[string]string{worker.Environment, over.Environment} {
		for k, v := range e {
			environ[k] = v
		}
	}
	secrets := append(slices.Clone(worker.Secrets), over.Secrets...)
	volumes := append(slices.Clone(worker.Volumes), over.Volumes...)
	declared := map[string]string{}
	for _, c := range []compose{base, overlay} {
		for name, s := range c.Secrets {
			declared[name] = s.File
		}
	}

	for _, name := range secretVars {
		if _, ok := environ[name]; ok {
			t.Errorf("%s is written in the Compose files: give it as %s_FILE from a secret", name, name)
		}
	}
	if u, err := url.Parse(environ["REDIS_URL"]); err != nil || u.User != nil {
		t.Errorf("REDIS_URL %q holds credentials: give it as REDIS_URL_FILE from a secret", environ["REDIS_URL"])
	}
	for _, want := range []string{"ACCOUNTS_FILE", "CREDENTIALS_KEY_FILE", "LEADCONNECTOR_CLIENT_ID", "LEADCONNECTOR_CLIENT_SECRET_FILE"} {
		if _, ok := over.Environment[want]; !ok {
			t.Errorf("the accounts overlay does not set %s", want)
		}
	}

	// Stand in for the container's file system: /run/secrets/NAME and the
	// volumes' targets become files and directories under root.
	root := t.TempDir()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	interpolation := regexp.MustCompile(`^\$\{([A-Z_]+):\?[^}]+\}$`)
	for name, value := range environ {
		if m := interpolation.FindStringSubmatch(value); m != nil {
			environ[name] = "app-from-" + m[1] // docker compose refuses to start while it is unset
			continue
		}
		secret, ok := strings.CutPrefix(value, "/run/secrets/")
		if !ok {
			continue
		}
		if !slices.Contains(secrets, secret) {
			t.Errorf("%s reads the secret %s, which the worker is not given", name, secret)
		}
		if file, ok := declared[secret]; !ok || !strings.HasPrefix(file, "./secrets/") {
			t.Errorf("secret %s: file %q, want one declared under ./secrets/ (kept out of git and the image)", secret, file)
		}
		content := "a-secret-" + secret
		if name == "CREDENTIALS_KEY_FILE" {
			content = base64.StdEncoding.EncodeToString(key)
		}
		environ[name] = filepath.Join(root, "secrets", secret)
		if err := os.MkdirAll(filepath.Dir(environ[name]), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(environ[name], []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	accountsDir := path.Dir(environ["ACCOUNTS_FILE"])
	mounted := false
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) == 3 && parts[1] == accountsDir {
			mounted = true
			if !strings.HasPrefix(parts[0], "./secrets/") || parts[2] != "ro" {
				t.Errorf("volume %q: want a read-only directory under ./secrets/", v)
			}
		}
	}
	if !mounted {
		t.Errorf("ACCOUNTS_FILE %s: its directory is not a mounted volume", environ["ACCOUNTS_FILE"])
	}

	cfg, err := config.LoadFrom(environ)
	if err != nil {
		t.Fatalf("the worker's environment with the accounts overlay: %v", err)
	}
	if cfg.CredentialsKey != base64.StdEncoding.EncodeToString(key) || cfg.Provider(leadconnector.Name).(*leadconnector.Config).ClientSecret == "" || cfg.AccountsFile == "" {
		t.Errorf("the key, the app's secret or the accounts file did not reach the configuration")
	}
}
