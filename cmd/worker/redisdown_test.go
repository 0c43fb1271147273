package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/internal/testwait"
)

// TestAWorkerWhoseRedisIsDownSaysSoAtABoundedRate stops the worker's Redis
// and reads what the worker writes: one line naming Redis's address and
// REDIS_URL, none of asynq's own complaints (about 355 lines a minute),
// each line at most once, every line JSON under LOG_FORMAT=json; and a
// line when Redis answers again.
func TestAWorkerWhoseRedisIsDownSaysSoAtABoundedRate(t *testing.T) {
	t.Parallel()
	redistest.RequireServer(t)
	bin := buildWorker(t)
	r := &restartableRedis{t: t, addr: freeLoopback(t)}
	r.start()
	w := startLogged(t, bin, "REDIS_URL=redis://"+r.addr+"/0", "LOG_FORMAT=json", "LOG_LEVEL=info",
		"HTTP_ADDR=127.0.0.1:0", "RATE_LIMITS=off", "MONITOR_ADDR=")
	w.waitFor(`"worker started"`)
	r.stop()
	first := w.waitFor(`"level":"error"`)
	if want := `"msg":"cannot reach Redis at ` + r.addr + ` (REDIS_URL): `; !strings.Contains(first.text, want) {
		t.Errorf("the first error line after Redis went down: %s\nwant one containing %s", first.text, want)
	}

	// Every complaint has had its first say within a few seconds (asynq's
	// loops run every second to every few seconds); count what follows.
	const window = 12 * time.Second
	seen := map[string]int{} // message: lines
	counted := 0
	for end := first.at.Add(window); ; counted++ {
		l, ok := w.next(end)
		if !ok {
			break
		}
		var entry struct{ Level, Logger, Msg string }
		_ = json.Unmarshal([]byte(l.text), &entry)
		seen[entry.Msg]++
		if entry.Logger == "asynq" && (entry.Level == "warn" || entry.Level == "error") {
			t.Errorf("asynq's own complaint while Redis is down and said to be: %s", l.text)
		}
	}
	r.start()
	w.waitFor(`"msg":"Redis answers again at ` + r.addr + ` (REDIS_URL)"`)
	w.stop()
	for msg, n := range seen {
		if n > 1 {
			t.Errorf("%d lines in the %s after Redis went down say %q, want one", n, window, msg)
		}
	}
	if counted > 5 {
		t.Errorf("%d lines in the %s after Redis went down:\n%s", counted, window, strings.Join(w.all, "\n"))
	}
	for _, l := range w.all {
		var entry struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(l), &entry); err != nil || entry.Level == "" || entry.Msg == "" {
			t.Errorf("not a JSON log line: %q", l)
		}
	}
}

// TestAWorkerStartedBeforeItsRedisSaysSoOnceAndWaits starts the worker
// with nothing at REDIS_URL: one error line names the address and
// REDIS_URL, never the password the URL carries; once Redis is up, a line
// says so and the worker starts.
func TestAWorkerStartedBeforeItsRedisSaysSoOnceAndWaits(t *testing.T) {
	t.Parallel()
	redistest.RequireServer(t)
	bin := buildWorker(t)
	const password = "hunter2-redis"
	r := &restartableRedis{t: t, addr: freeLoopback(t), args: []string{"--requirepass", password}}
	health := freeLoopback(t)
	w := startLogged(t, bin, "REDIS_URL=redis://:"+password+"@"+r.addr+"/0", "LOG_FORMAT=json", "LOG_LEVEL=info",
		"HTTP_ADDR="+health, "RATE_LIMITS=off", "MONITOR_ADDR=")
	first := w.waitFor(`"level":"error"`)
	if want := `"msg":"cannot reach Redis at ` + r.addr + ` (REDIS_URL): `; !strings.Contains(first.text, want) {
		t.Errorf("the first error line: %s\nwant one containing %s", first.text, want)
	}
	// Waiting, it is alive (a liveness probe must not restart it) and not ready.
	answers(t, "http://"+health+"/healthz", http.StatusOK)
	answers(t, "http://"+health+"/readyz", http.StatusServiceUnavailable)
	r.start()
	w.waitFor(`"msg":"Redis answers again at ` + r.addr + ` (REDIS_URL)"`)
	w.waitFor(`"worker started"`)
	answers(t, "http://"+health+"/readyz", http.StatusOK)
	w.stop()
	errorLines := 0
	for _, l := range w.all {
		if strings.Contains(l, password) {
			t.Errorf("a line shows the password: %s", l)
		}
		if strings.Contains(l, `"level":"error"`) {
			errorLines++
		}
	}
	if errorLines != 1 {
		t.Errorf("%d error lines, want the one:\n%s", errorLines, strings.Join(w.all, "\n"))
	}
}

// answers waits until url answers status, failing t past a deadline.
func answers(t *testing.T, url string, status int) {
	t.Helper()
	testwait.For(t, 10*time.Second, fmt.Sprintf("%s answering %d", url, status), func() bool {
		res, err := http.Get(url)
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == status
	})
}

// freeLoopback returns a loopback address nobody listens on now, for a
// redis-server that keeps it across restarts.
func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// restartableRedis is a redis-server on addr, stopped and started again
// on the same address, as a Redis restarted by its orchestrator.
type restartableRedis struct {
	t    *testing.T
	addr string
	args []string
	cmd  *exec.Cmd
}

func (r *restartableRedis) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", r.t.TempDir()}, r.args...)...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	cmd := r.cmd
	r.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// NOAUTH is an answer: the server is up.
		if err := c.Ping(context.Background()).Err(); err == nil || strings.Contains(err.Error(), "NOAUTH") {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not start within 10s")
		}
	}
}

func (r *restartableRedis) stop() {
	r.t.Helper()
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// loggedWorker is a worker process whose stderr lines are read as they come.
type loggedWorker struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan logLine
	all   []string
}

type logLine struct {
	at   time.Time
	text string
}

// startLogged runs the worker binary with env added to the test's, killed
// at the end of the test.
func startLogged(t *testing.T, bin string, env ...string) *loggedWorker {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	w := &loggedWorker{t: t, cmd: cmd, lines: make(chan logLine, 1024)}
	go w.read(stderr)
	return w
}

func (w *loggedWorker) read(r io.Reader) {
	defer close(w.lines)
	s := bufio.NewScanner(r)
	for s.Scan() {
		w.lines <- logLine{time.Now(), s.Text()}
	}
}

// next returns the next line, or false when none comes by deadline.
func (w *loggedWorker) next(deadline time.Time) (logLine, bool) {
	select {
	case l, ok := <-w.lines:
		if ok {
			w.all = append(w.all, l.text)
		}
		return l, ok
	case <-time.After(time.Until(deadline)):
		return logLine{}, false
	}
}

// waitFor returns the next line containing what, failing the test when
// none comes within 20 s.
func (w *loggedWorker) waitFor(what string) logLine {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, ok := w.next(deadline)
		if !ok {
			w.t.Fatalf("no %q line within 20s; the worker wrote:\n%s", what, strings.Join(w.all, "\n"))
		}
		if strings.Contains(l.text, what) {
			return l
		}
	}
}

// stop sends SIGTERM and reads the worker's lines until it exits.
func (w *loggedWorker) stop() {
	w.t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		w.t.Fatal(err)
	}
	for {
		if _, ok := w.next(time.Now().Add(20 * time.Second)); !ok {
			return
		}
	}
}
