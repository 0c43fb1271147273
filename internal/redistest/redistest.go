// Package redistest starts a Redis for a test: a real redis-server on a
// free loopback port, stopped when the test ends. Where no redis-server is
// installed it falls back to the embedded Redis and says so, unless
// REQUIRE_REDIS_SERVER=1, which makes that a failure.
package redistest

import (
	"context"
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
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("REQUIRE_REDIS_SERVER") == "1" {
			t.Fatal("redistest: REQUIRE_REDIS_SERVER=1 but no redis-server is installed")
		}
		t.Log("redistest: no redis-server installed; using the embedded Redis")
		s, err := devredis.Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return asynq.RedisClientOpt{Addr: s.Addr()}
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("redistest: start redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	opt := asynq.RedisClientOpt{Addr: addr}
	waitReady(t, addr)
	return opt
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(t testing.TB, addr string) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = c.Ping(context.Background()).Err(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(fmt.Errorf("redistest: redis-server on %s not ready: %w", addr, err))
}
