package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/config"
)

// TestComposeAndDockerfileAgreeWithTheBinary checks, without a Docker
// engine, what the deployment files promise: the worker's environment in
// docker-compose.yml is a valid configuration, its secrets are declared,
// the stop grace period outlasts the shutdown bound, and the image runs
// the worker binary as a non-root user.
func TestComposeAndDockerfileAgreeWithTheBinary(t *testing.T) {
	t.Parallel()
	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	worker := regexp.MustCompile(`(?s)\n  worker:\n(.*?)\n\n`).FindSubmatch(compose)
	if worker == nil {
		t.Fatal("no worker service in docker-compose.yml")
	}
	env := regexp.MustCompile(`(?s)\n    environment:\n(.*?)\n    [a-z_]+:`).FindSubmatch(worker[1])
	if env == nil {
		t.Fatal("no environment for the worker")
	}
	environ := map[string]string{}
	secrets := t.TempDir()
	for _, line := range strings.Split(string(env[1]), "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			t.Fatalf("environment line %q", line)
		}
		value = strings.Trim(value, `"`)
		if name, ok := strings.CutPrefix(value, "/run/secrets/"); ok {
			if !regexp.MustCompile(`\n      - ` + name + `\n`).Match(worker[1]) {
				t.Errorf("%s reads the secret %s, which the worker is not given", key, name)
			}
			value = filepath.Join(secrets, name)
			if err := os.WriteFile(value, []byte("a-secret-"+name+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		environ[key] = value
	}
	cfg, err := config.LoadFrom(environ)
	if err != nil {
		t.Fatalf("the worker's environment in docker-compose.yml: %v", err)
	}
	grace := regexp.MustCompile(`stop_grace_period: (\S+)`).FindSubmatch(worker[1])
	if d, err := time.ParseDuration(string(grace[1])); err != nil || d <= cfg.ShutdownTimeout {
		t.Errorf("stop_grace_period %s does not outlast SHUTDOWN_TIMEOUT %s", grace[1], cfg.ShutdownTimeout)
	}

	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"go build -trimpath -ldflags=\"$flags\" -o /out/worker ./cmd/worker",
		`flags="-s -w -X`,
		"-o /out/enqueue ./cmd/enqueue",
		"COPY --from=build /out/worker /out/enqueue /usr/local/bin/",
		"USER nonroot:nonroot",
		`ENTRYPOINT ["/usr/local/bin/worker"]`,
	} {
		if !strings.Contains(string(dockerfile), want) {
			t.Errorf("the Dockerfile lacks %s", want)
		}
	}
}
