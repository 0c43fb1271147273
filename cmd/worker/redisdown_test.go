package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/redistest"
)

// TestAWorkerWhoseRedisIsDownSaysSoAtABoundedRate stops the worker's Redis
// and reads what the worker writes: each complaint once, then at most once
// a minute (asynq alone writes about 355 lines a minute), every line JSON
// under LOG_FORMAT=json.
func TestAWorkerWhoseRedisIsDownSaysSoAtABoundedRate(t *testing.T) {
	t.Parallel()
	bin := buildWorker(t)
	srv, err := redistest.StartServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "REDIS_URL=redis://"+srv.Addr+"/0", "LOG_FORMAT=json", "LOG_LEVEL=info",
		"HTTP_ADDR=127.0.0.1:0", "RATE_LIMITS=off", "MONITOR_ADDR=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	type line struct {
		at   time.Time
		text string
	}
	lines := make(chan line, 1024)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			lines <- line{time.Now(), s.Text()}
		}
	}()
	var all []string
	// next returns the next line, failing t when none comes by deadline.
	next := func(deadline time.Time) (line, bool) {
		select {
		case l, ok := <-lines:
			if ok {
				all = append(all, l.text)
			}
			return l, ok
		case <-time.After(time.Until(deadline)):
			return line{}, false
		}
	}
	waitFor := func(what string) time.Time {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			l, ok := next(deadline)
			if !ok {
				t.Fatalf("no %q line within 20s; the worker wrote:\n%s", what, strings.Join(all, "\n"))
			}
			if strings.Contains(l.text, what) {
				return l.at
			}
		}
	}
	waitFor(`"worker started"`)
	srv.Stop()
	first := waitFor(`"level":"error"`)

	// Every complaint has had its first say within a few seconds (asynq's
	// loops run every second to every few seconds); count what follows.
	const window = 12 * time.Second
	seen := map[string]int{} // message: lines
	counted := 0
	for end := first.Add(window); ; counted++ {
		l, ok := next(end)
		if !ok {
			break
		}
		var entry struct{ Msg string }
		_ = json.Unmarshal([]byte(l.text), &entry)
		seen[entry.Msg]++
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := next(time.Now().Add(20 * time.Second)); !ok {
			break
		}
	}
	for msg, n := range seen {
		if n > 1 {
			t.Errorf("%d lines in the %s after Redis went down say %q, want one", n, window, msg)
		}
	}
	// asynq's complaints: forwarding, dequeueing, the server's state, the
	// recoverer, and a few for each of the three queues.
	if counted > 20 {
		t.Errorf("%d lines in the %s after Redis went down:\n%s", counted, window, strings.Join(all, "\n"))
	}
	for _, l := range all {
		var entry struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(l), &entry); err != nil || entry.Level == "" || entry.Msg == "" {
			t.Errorf("not a JSON log line: %q", l)
		}
	}
}
