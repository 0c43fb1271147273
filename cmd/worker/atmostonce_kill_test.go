package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
)

// With AT_MOST_ONCE=leadconnector, a worker killed (SIGKILL) after the
// provider's 2xx but before asynq's completion must not leave the send
// parked as "outcome unknown" with no result, inviting a retry by hand
// that sends it twice.
//
// The kill comes at a chosen point: the worker reaches Redis through a
// proxy that, on the first command carrying asynq's completion of the send
// (its task key with the queue's completed set), stops passing anything
// either way; the worker is then killed. Everything the worker wrote
// before that command is in Redis; the completion, and what went with it,
// is not. Its lease is then made to look expired (asynq takes a killed
// worker's task back 30 s after its lease ends; the test does not wait
// for that), and a second worker, started on Redis directly, recovers it.
//
// Expected: the provider received exactly one request, and the send ends
// either completed with the provider's result, or archived with a reason
// that says it was probably sent (containing "probably sent"); a retry by
// hand then sends nothing more.
func TestAtMostOnceKilledAfterTheAnswerKeepsItsOutcome(t *testing.T) {
	t.Parallel()
	bin := buildWorker(t)
	conn := redistest.Start(t)
	sb := sandbox.New(sandbox.Config{})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	p := producer.New(conn)
	t.Cleanup(func() { _ = p.Close() })
	res, err := p.EnqueueJSON(ctx, []byte(`{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c-once","message":"Hi"}}`))
	if err != nil {
		t.Fatal(err)
	}
	id := res.ID

	cut := startRedisCut(t, conn.Addr, func(b []byte) bool {
		// asynq's completion: its Done script names the task and the
		// processed counters.
		return bytes.Contains(b, []byte("asynq:{leadconnector}:processed")) && bytes.Contains(b, []byte("asynq:{leadconnector}:t:"+id))
	})
	environ := append(os.Environ(), "MATEO_BASE_URL="+srv.URL+"/api/v1", "MATEO_TOKEN=t", "LEADCONNECTOR_BASE_URL="+srv.URL,
		"LEADCONNECTOR_TOKEN=t", "RATE_LIMITS=off", "WORKER_CONCURRENCY=4", "HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=warn",
		"AT_MOST_ONCE=leadconnector", "RETRY_BACKOFF_BASE=200ms", "SHUTDOWN_TIMEOUT=1s")
	first := startWorker(t, bin, append(environ, "REDIS_URL=redis://"+cut.Addr()+"/0"), "first worker")
	select {
	case <-cut.cut:
	case <-time.After(10 * time.Second):
		t.Fatalf("the first worker did not complete the send within 10s: %d requests", len(sb.Requests()))
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	reqs := sb.Requests()
	if len(reqs) != 1 || reqs[0].Status != http.StatusOK {
		t.Fatalf("setup: %d requests before the kill, want the one the provider answered 200", len(reqs))
	}
	ins := asynq.NewInspector(conn)
	t.Cleanup(func() { _ = ins.Close() })
	if info, err := ins.GetTaskInfo("leadconnector", id); err != nil || info.State != asynq.TaskStateActive {
		t.Fatalf("setup: after the kill the task is %+v (%v), want still active: killed before asynq's completion", info, err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: conn.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.ZAdd(ctx, "asynq:{leadconnector}:lease", redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: id}).Err(); err != nil {
		t.Fatal(err)
	}

	// The next worker's recoverer takes the task back as it starts.
	startWorker(t, bin, append(environ, "REDIS_URL=redis://"+conn.Addr+"/0"), "second worker")
	s := waitEnded(t, p, id, 10*time.Second)
	switch {
	case s.State == "completed":
		if s.Result == nil || s.Result.Status != http.StatusOK {
			t.Errorf("completed with result %+v, want the provider's 200", s.Result)
		}
	case s.State == "archived" && strings.Contains(s.LastError, "probably sent"):
	default:
		t.Errorf("the send ended %s with %q (result %+v): want it completed with the provider's answer, or archived saying it was probably sent, not an invitation to send it again",
			s.State, s.LastError, s.Result)
	}
	if n := len(sb.Requests()); n != 1 {
		t.Errorf("%d requests after the recovery, want the one before the kill", n)
	}

	// Retried by hand: nothing more reaches the provider.
	if s.State == "archived" {
		if err := p.Retry(ctx, id); err == nil {
			s = waitEnded(t, p, id, 10*time.Second)
			if n := len(sb.Requests()); n != 1 {
				t.Errorf("retried by hand, the send went again: %d requests for one send (now %s, %q)", n, s.State, s.LastError)
			}
		}
	}
}

// startWorker runs the worker binary with environ, killed at the end of
// the test; its log is shown when the test fails.
func startWorker(t *testing.T, bin string, environ []string, name string) *exec.Cmd {
	t.Helper()
	var log syncBuffer
	cmd := exec.Command(bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = environ, &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, log.String())
		}
	})
	return cmd
}

// waitEnded waits until the task is completed or archived.
func waitEnded(t *testing.T, p *producer.Producer, id string, within time.Duration) *producer.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, err := p.Status(context.Background(), id)
		if err == nil && (s.State == "completed" || s.State == "archived") {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s not ended within %s: %+v (%v)", id, within, s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// redisCut is a TCP proxy to Redis that, once a command from a client
// matches, passes nothing more either way on any connection: what a
// process killed right before that command leaves behind. cut is closed
// then.
type redisCut struct {
	ln     net.Listener
	target string
	match  func([]byte) bool
	cut    chan struct{}
	once   sync.Once
	frozen atomic.Bool
}

func startRedisCut(t *testing.T, target string, match func([]byte) bool) *redisCut {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &redisCut{ln: ln, target: target, match: match, cut: make(chan struct{})}
	var conns sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); conns.Wait() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			conns.Add(2)
			go func() { defer conns.Done(); c.pipe(server, client, true) }()
			go func() { defer conns.Done(); c.pipe(client, server, false) }()
		}
	}()
	return c
}

// Addr is the proxy's address.
func (c *redisCut) Addr() string { return c.ln.Addr().String() }

// pipe copies src to dst until either closes, looking for the match in
// what a client sends (inspect) and dropping everything once frozen.
func (c *redisCut) pipe(dst, src net.Conn, inspect bool) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 64<<10)
	var tail []byte // the end of what came before: a command may span reads
	for {
		n, err := src.Read(buf)
		if n > 0 && !c.frozen.Load() {
			chunk := buf[:n]
			if inspect {
				seen := append(tail, chunk...)
				if c.match(seen) {
					c.once.Do(func() { c.frozen.Store(true); close(c.cut) })
				}
				tail = append([]byte(nil), seen[max(0, len(seen)-4096):]...)
			}
			if !c.frozen.Load() {
				if _, werr := dst.Write(chunk); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
