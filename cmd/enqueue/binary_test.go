package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/punctualhq/punctual/internal/redistest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the enqueue command once for the tests that run it as a
// user does: exit status and output are the process's own.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "enqueue-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "enqueue")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// exe runs the built command with env added to the test's environment
// and returns its exit status, standard output and standard error.
func exe(t *testing.T, env []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

func TestBadUsageExits2(t *testing.T) {
	t.Parallel()
	// Nothing listens here: bad usage is told before Redis is needed.
	env := []string{"REDIS_URL=redis://127.0.0.1:1/0"}
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"nope"}, `unknown command "nope"`},
		{"misspelt command", []string{"sned", "{}"}, "did you mean send?"},
		{"send without its envelope", []string{"send"}, "accepts 1 arg"},
		{"batch without its file", []string{"batch"}, "accepts 1 arg"},
		{"status without its id", []string{"status"}, "accepts 1 arg"},
		{"concurrency 0", []string{"batch", "--concurrency", "0", "-"}, "--concurrency: must be at least 1, not 0"},
		{"negative concurrency", []string{"batch", "--concurrency", "-2", "-"}, "--concurrency: must be at least 1, not -2"},
		{"unknown flag", []string{"batch", "--fast", "-"}, "unknown flag: --fast"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := exe(t, env, envelope+"\n", c.args...)
			if code != 2 || !strings.Contains(errOut, c.wantErr) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, c.wantErr)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}

// silent accepts connections and never answers, as a Redis host behind a
// dropping firewall or a hung server does.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func TestUnreachableRedisIsNamedWithItsAddress(t *testing.T) {
	t.Parallel()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := refused.Addr().String()
	_ = refused.Close()
	hung := silent(t)
	commands := [][]string{
		{"send", envelope},
		{"batch", "-"},
		{"status", "5c1b0d52-8d9e-5b71-a3c4-0e6f7a8b9c1d"},
		{"cancel", "5c1b0d52-8d9e-5b71-a3c4-0e6f7a8b9c1d"},
		{"list"},
		{"limits"},
		{"retry", "--all-archived"},
	}
	for _, where := range []struct {
		name, addr, reason string
	}{
		{"refused", closedAddr, "connection refused"},
		{"no answer", hung, ""},
	} {
		for _, args := range commands {
			if where.reason == "" && !slices.Contains([]string{"send", "batch", "limits"}, args[0]) {
				continue // each waits out the timeouts: the three ways into Redis are enough
			}
			t.Run(where.name+"/"+args[0], func(t *testing.T) {
				t.Parallel()
				env := []string{"REDIS_URL=redis://ops:pa55word@" + where.addr + "/0"}
				code, _, errOut := exe(t, env, envelope+"\n", args...)
				want := "cannot reach Redis at " + where.addr + " (REDIS_URL)"
				if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, where.reason) {
					t.Errorf("exit %d, stderr %q; want 1 and %q (%s)", code, errOut, want, where.reason)
				}
				for _, never := range []string{"pa55word", "failed:", "redis command error"} {
					if strings.Contains(errOut, never) {
						t.Errorf("stderr has %q: %q", never, errOut)
					}
				}
				if strings.Contains(errOut, "archived tasks sent again") {
					t.Errorf("stderr claims a retry that did not happen: %q", errOut)
				}
			})
		}
	}
}

func TestBatchReportsRejectedLinesInOrderAndCountsBlankOnes(t *testing.T) {
	t.Parallel()
	env := []string{"REDIS_URL=redis://" + redistest.Start(t).Addr + "/0"}
	good := `{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c%d","message":"Hi"}}`
	var lines, wantRejected []string
	// Enough lines for every checker and enqueuer to have work at once,
	// so that lines finish out of order.
	for i := 1; i <= 3000; i++ {
		switch {
		case i%7 == 0:
			lines = append(lines, fmt.Sprintf(`{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c%d"},"when":"now"}`, i))
			wantRejected = append(wantRejected, fmt.Sprintf("line %d: when: unknown field", i))
		case i%11 == 0:
			lines = append(lines, "   ")
		case i%13 == 0:
			lines = append(lines, "")
		default:
			lines = append(lines, fmt.Sprintf(good, i))
		}
	}
	blank, rejected := 0, len(wantRejected)
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			blank++
		}
	}
	report := filepath.Join(t.TempDir(), "report.jsonl")
	code, out, errOut := exe(t, env, strings.Join(lines, "\n")+"\n", "batch", "--concurrency", "32", "--report", report, "-")
	wantSum := fmt.Sprintf("enqueued %d, duplicate 0, rejected %d; %d lines (%d blank, skipped) in ", len(lines)-blank-rejected, rejected, len(lines), blank)
	if code != 2 || !strings.HasPrefix(out, wantSum) {
		t.Fatalf("exit %d, stdout %q; want 2 and %q", code, out, wantSum)
	}
	var told []string
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if strings.HasPrefix(l, "line ") {
			told = append(told, l)
		}
	}
	if !slices.EqualFunc(told, wantRejected, strings.HasPrefix) {
		t.Errorf("stderr told %d rejected lines, want %d in line order; first ones: %q", len(told), len(wantRejected), told[:min(5, len(told))])
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var numbers []int
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r struct{ Line int }
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("report line %q: %v", l, err)
		}
		numbers = append(numbers, r.Line)
	}
	if len(numbers) != rejected || !slices.IsSorted(numbers) {
		t.Errorf("report holds %d lines, want %d in line order: %v", len(numbers), rejected, numbers[:min(10, len(numbers))])
	}
}
