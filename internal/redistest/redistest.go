// Package redistest starts a Redis for a test: a real redis-server on a
// free loopback port, stopped when the test ends. Where no redis-server is
// installed it falls back to the embedded Redis and says so, unless
// REQUIRE_REDIS_SERVER=1, which makes that a failure.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"punctual/internal/devredis"
)

// Start returns the connection of a fresh, empty Redis for t.
func Start(t testing.TB) asynq.RedisClientOpt {
	t.Helper()
	s, err := StartServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if s.Embedded {
		t.Log("redistest: no redis-server installed; using the embedded Redis")
	}
	t.Cleanup(s.Stop)
	return asynq.RedisClientOpt{Addr: s.Addr}
}

// Server is a running Redis.
type Server struct {
	// Addr is its host:port.
	Addr string
	// Embedded is true when it is the embedded Redis, not redis-server.
	Embedded bool
	// Stop stops it.
	Stop func()
}

// StartServer starts a fresh redis-server keeping its files in dir, or the
// embedded Redis as Start does.
func StartServer(dir string) (*Server, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("REQUIRE_REDIS_SERVER") == "1" {
			return nil, errors.New("redistest: REQUIRE_REDIS_SERVER=1 but no redis-server is installed")
		}
		s, err := devredis.Start("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		return &Server{Addr: s.Addr(), Embedded: true, Stop: s.Close}, nil
	}
	// A free port can be taken by another process before redis-server binds
	// it: then it exits, and another port is tried.
	for range 5 {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("redistest: start redis-server: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		switch err := waitReady(addr, exited); {
		case err == nil:
			return &Server{Addr: addr, Stop: stop}, nil
		case errors.Is(err, errExited):
			continue
		default:
			stop()
			return nil, err
		}
	}
	return nil, errors.New("redistest: redis-server could not bind a free port")
}

var errExited = errors.New("redis-server exited")

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady waits for the server at addr to answer, or to exit.
func waitReady(addr string, exited <-chan struct{}) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = c.Ping(context.Background()).Err(); err == nil {
			return nil
		}
		select {
		case <-exited:
			return errExited
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("redistest: redis-server on %s not ready: %w", addr, err)
}
