package main

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
)

// TestASecondSignalExitsAtOnceAndTheSendInFlightIsRetried stops a worker
// whose one send the provider does not answer (the send waits for Mateo's
// request timeout, 5 s): the first SIGINT leaves it waiting for the send,
// as asked; the second makes it exit at once, with status 1 and a line
// saying so. The send is not lost: it stays active under its lease, and
// once that has run out the next worker sends it.
func TestASecondSignalExitsAtOnceAndTheSendInFlightIsRetried(t *testing.T) {
	t.Parallel()
	bin := buildWorker(t)
	conn := redistest.Start(t)
	sb := sandbox.New(sandbox.Config{})
	sb.Script(sandbox.Answer{Delay: 10 * time.Minute}) // until the worker gives up
	arrived := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	p := producer.New(conn)
	t.Cleanup(func() { _ = p.Close() })
	res, err := p.EnqueueJSON(ctx, []byte(`{"type":"mateo:send_message","key":"twice","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"hi"}}`))
	if err != nil {
		t.Fatal(err)
	}
	environ := append(os.Environ(), "REDIS_URL=redis://"+conn.Addr+"/0", "MATEO_BASE_URL="+srv.URL+"/api/v1",
		"MATEO_TOKEN=t", "LEADCONNECTOR_BASE_URL="+srv.URL, "LEADCONNECTOR_TOKEN=t", "RATE_LIMITS=off",
		"HTTP_ADDR=127.0.0.1:0", "MONITOR_ADDR=", "LOG_FORMAT=json", "SHUTDOWN_TIMEOUT=10m", "RETRY_BACKOFF_BASE=200ms")

	cmd := exec.Command(bin)
	cmd.Env = environ
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		for s := bufio.NewScanner(stderr); s.Scan(); {
			lines <- s.Text()
		}
	}()
	var all []string
	waitFor := func(what string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the worker ended without a %q line:\n%s", what, strings.Join(all, "\n"))
				}
				all = append(all, l)
				if strings.Contains(l, what) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q line within 20s:\n%s", what, strings.Join(all, "\n"))
			}
		}
	}

	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the send did not reach the provider within 20s")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitFor("stopping: finishing in-flight sends")
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitFor("second signal: exiting now")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("exit: %v, want status 1", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not exit within 10s of the second signal")
	}
	if took := time.Since(signalled); took > 5*time.Second {
		t.Errorf("the second signal took %s to stop the worker", took)
	}

	// asynq takes a task back 30 s after its lease ran out, which a dead
	// worker no longer renews; the test ends the lease instead of waiting.
	ins := asynq.NewInspector(conn)
	t.Cleanup(func() { _ = ins.Close() })
	if info, err := ins.GetTaskInfo("mateo", res.ID); err != nil || info.State != asynq.TaskStateActive {
		t.Fatalf("after the exit the task is %+v (%v), want still active, under its lease", info, err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: conn.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.ZAdd(ctx, "asynq:{mateo}:lease", redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: res.ID}).Err(); err != nil {
		t.Fatal(err)
	}
	startWorker(t, bin, environ, "next worker")
	if s := waitEnded(t, p, res.ID, 20*time.Second); s.State != "completed" {
		t.Errorf("the abandoned send ended %s (%q), want completed by the next worker", s.State, s.LastError)
	}
}
