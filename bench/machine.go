package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the figures were taken.
type machine struct {
	CPUs     int     `json:"cpus"`
	CPUModel string  `json:"cpu_model"`
	MemGiB   float64 `json:"memory_gib"`
	Go       string  `json:"go"`
	Redis    string  `json:"redis"`
	LoadAvg  string  `json:"load_average"`
}

func (m machine) String() string {
	return fmt.Sprintf("machine: %d CPUs (%s), %.1f GiB, %s, %s, load average %s",
		m.CPUs, m.CPUModel, m.MemGiB, m.Go, m.Redis, m.LoadAvg)
}

func describeMachine(ctx context.Context) machine {
	m := machine{CPUs: runtime.NumCPU(), CPUModel: "unknown", Go: runtime.Version(), Redis: "no redis-server"}
	if v, ok := procField("/proc/cpuinfo", "model name"); ok {
		m.CPUModel = v
	}
	if v, ok := procField("/proc/meminfo", "MemTotal"); ok {
		kib, _ := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64)
		m.MemGiB = kib / (1 << 20)
	}
	if out, err := exec.CommandContext(ctx, "redis-server", "--version").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) >= 3 {
			m.Redis = "redis-server " + strings.TrimPrefix(f[2], "v=")
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// procField returns the value of the first "name: value" line of a /proc file.
func procField(path, name string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// moduleRoot returns the directory of the punctual module the bench
// measures: the parent of the bench's own module, whose replace directive
// points there, so that the binaries built are those of this checkout.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the bench from inside its module, bench/ of the punctual checkout")
	}
	root := filepath.Dir(filepath.Dir(mod))
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.HasPrefix(string(data), "module github.com/punctualhq/punctual\n") {
		return "", fmt.Errorf("%s is not the punctual module the bench module belongs to", root)
	}
	return root, nil
}

// goBuild builds the package pkg (such as ./cmd/worker) of the module to a
// binary in e.tmp, once a run, and returns its path.
func goBuild(ctx context.Context, e *env, pkg string) (string, error) {
	if bin, ok := e.bins[pkg]; ok {
		return bin, nil
	}
	out := filepath.Join(e.tmp, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = e.root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	e.bins[pkg] = out
	return out, nil
}
