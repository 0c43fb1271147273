package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevModeDeliversTheExamplesAndStopsOnSIGTERM runs the README's first
// command as a newcomer would, and stops it as an orchestrator would.
func TestDevModeDeliversTheExamplesAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	bin := buildWorker(t)
	examples, _ := filepath.Glob("../../examples/*.json")
	if len(examples) != 3 {
		t.Fatalf("%d examples, want 3", len(examples))
	}
	cmd := exec.Command(bin, append([]string{"--dev"}, examples...)...)
	cmd.Env = append(os.Environ(), "LOG_FORMAT=json", "HOME="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	var banner strings.Builder
	sent := map[string]time.Time{} // type -> when sent
	due := map[string]time.Time{}  // type -> due time
	received := 0                  // requests the sandbox logged
	deadline := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	lines := bufio.NewScanner(stderr)
	for len(sent) < 3 && lines.Scan() {
		var line struct {
			TS   string `json:"ts"`
			Msg  string `json:"msg"`
			Type string `json:"type"`
			Due  string `json:"due"`
		}
		if json.Unmarshal(lines.Bytes(), &line) != nil {
			banner.WriteString(lines.Text() + "\n")
			continue
		}
		at, _ := time.Parse(time.RFC3339Nano, line.TS)
		switch line.Msg {
		case "example scheduled":
			due[line.Type], _ = time.Parse(time.RFC3339Nano, line.Due)
		case "sandbox: request":
			received++
		case "sent":
			sent[line.Type] = at
		}
	}
	for _, want := range []string{"dev mode", "Nothing is kept", "Nothing leaves this machine", "redis://127.0.0.1:"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
		}
	}
	if len(sent) != 3 || received != 3 {
		t.Fatalf("sent %v with %d sandbox requests; want the 3 examples", sent, received)
	}
	for typ, at := range sent {
		if at.Before(due[typ]) || at.Sub(due[typ]) > 1500*time.Millisecond {
			t.Errorf("%s sent at %s, due %s", typ, at.Format(time.RFC3339Nano), due[typ].Format(time.RFC3339Nano))
		}
	}

	go func() { // keep draining so the worker never blocks on its log
		for lines.Scan() {
		}
	}()
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopping took %s", took)
	}
}

// buildWorker builds this command into a temporary directory.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestAnImageBuildNamesItsCommit builds the worker as the Dockerfile does,
// without the checkout's .git, and checks --version names the commit given.
func TestAnImageBuildNamesItsCommit(t *testing.T) {
	t.Parallel()
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	const flag = "-X github.com/punctualhq/punctual/internal/version.Commit="
	if !strings.Contains(string(dockerfile), flag+"${COMMIT}") {
		t.Fatalf("the Dockerfile does not set %s${COMMIT}", flag)
	}
	bin := filepath.Join(t.TempDir(), "worker")
	build := exec.Command("go", "build", "-buildvcs=false", "-ldflags", flag+"0123456789abcdef", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.Contains(string(out), "commit 0123456789ab") {
		t.Errorf("--version: %q, %v; want the commit given", out, err)
	}
}

func TestVersionNamesTheBuildWithoutStarting(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(buildWorker(t), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "worker ") || !strings.Contains(string(out), "go1.") {
		t.Errorf("--version: %q, %v; want the name and the build's version", out, err)
	}
}
