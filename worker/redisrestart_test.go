package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// freeAddr returns a loopback address nobody listens on now: a redis-server restarted on it keeps its
// clients' address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// persistentRedis is a redis-server with an append-only file fsynced on
// every write, on a port it keeps across restarts.
type persistentRedis struct {
	t         *testing.T
	port, dir string
	cmd       *exec.Cmd
}

func (r *persistentRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", r.port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + r.port})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not start")
		}
	}
}

func (r *persistentRedis) kill() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// TestRedisRestartLosesNothing kills Redis (appendonly, fsync always)
// while sends wait for their time, and starts it again: the worker and
// the producer reconnect by themselves and every send is made once.
func TestRedisRestartLosesNothing(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("REQUIRE_REDIS_SERVER") == "1" {
			t.Fatal("REQUIRE_REDIS_SERVER=1 but no redis-server is installed")
		}
		t.Skip("restarting Redis needs redis-server")
	}
	_, port, _ := net.SplitHostPort(freeAddr(t))
	r := &persistentRedis{t: t, port: port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.kill)
	e := setup(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:" + port + "/0"})

	const n = 60
	enqueue := func(i int, due time.Time) {
		t.Helper()
		if _, err := e.producer.EnqueueJSON(context.Background(), []byte(fmt.Sprintf(
			`{"type":"mateo:send_message","key":"k%d","process_at":%q,"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"%d"}}`,
			i, due.UTC().Format(time.RFC3339Nano), i))); err != nil {
			t.Fatal(err)
		}
	}
	due := time.Now().Add(3 * time.Second)
	for i := range n / 2 {
		enqueue(i, due.Add(time.Duration(i)*50*time.Millisecond))
	}
	r.kill()
	time.Sleep(time.Second)
	r.start()
	for i := n / 2; i < n; i++ { // the producer reconnects too
		enqueue(i, time.Now().Add(time.Second))
	}

	accepted := map[string]int{}
	for deadline := time.Now().Add(20 * time.Second); len(accepted) < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sends accepted after the restart", len(accepted), n)
		}
		clear(accepted)
		for _, req := range e.sandbox.Requests() {
			var body struct{ ID string }
			if req.Status == http.StatusOK && json.Unmarshal(req.Body, &body) == nil {
				accepted[body.ID]++
			}
		}
	}
	for id, k := range accepted {
		if k != 1 {
			t.Errorf("message %s accepted %d times", id, k)
		}
	}
}
