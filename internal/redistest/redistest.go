// Package redistest starts Redis for a test: real redis-server processes on
// free loopback ports, stopped when the test ends.
//
// Start gives a single server. Where no redis-server is installed it falls
// back to the embedded Redis and says so. StartCluster and StartSentinel
// give a Redis Cluster and a Sentinel setup, which the embedded Redis
// cannot play: without redis-server they skip the test; so does
// StartPersistentCluster, a Cluster whose nodes can be restarted one at a
// time and keep their data. In all these cases REQUIRE_REDIS_SERVER=1
// makes a missing redis-server a failure.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/devredis"
)

// readyTimeout bounds each wait for a server, a cluster or a sentinel.
const readyTimeout = 15 * time.Second

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
	// Stop stops it; once stopped, it does nothing.
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
		return &Server{Addr: s.Addr(), Embedded: true, Stop: sync.OnceFunc(s.Close)}, nil
	}
	p, err := start(path, 1, func(ports []string) []string { return serverArgs(ports[0], dir) })
	if err != nil {
		return nil, err
	}
	return &Server{Addr: p.addr, Stop: sync.OnceFunc(p.stop)}, nil
}

// StartCluster starts a Redis Cluster of three masters (no replicas), each
// serving a third of the hash slots, and returns their addresses once
// every node reports cluster_state:ok. It needs redis-server 7.0 or later
// (for --cluster-port); without redis-server it skips t.
func StartCluster(t testing.TB) []string {
	t.Helper()
	return startCluster(t, false).Addrs
}

// StartPersistentCluster starts a Cluster as StartCluster does, but each
// node keeps its data in an append-only file fsynced on every write, and
// its cluster configuration, in a directory of its own: a node Restart
// kills comes back with every write it acknowledged, in its place.
func StartPersistentCluster(t testing.TB) *Cluster {
	t.Helper()
	return startCluster(t, true)
}

// Cluster is a running Redis Cluster of three masters, no replicas.
type Cluster struct {
	// Addrs are the masters' addresses, in the order of their slots:
	// Addrs[0] serves the first third.
	Addrs []string

	path  string
	mu    sync.Mutex // guards nodes against a Restart during the cleanup
	nodes []*process
}

// Restart kills node i (SIGKILL: no shutdown, no last save), starts
// redis-server again on the same ports with the same arguments, and waits
// until every node reports cluster_state:ok again. Only a Cluster of
// StartPersistentCluster gets its data back.
func (c *Cluster) Restart(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.nodes) {
		return fmt.Errorf("redistest: restart node %d of a cluster of %d", i, len(c.nodes))
	}
	old := c.nodes[i]
	old.stop()
	p, err := launch(c.path, old.addr, old.args)
	if err != nil {
		return fmt.Errorf("redistest: restart cluster node %s: %w", old.addr, err)
	}
	c.nodes[i] = p
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	return c.waitReady(ctx)
}

// Stop kills every node.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.nodes {
		p.stop()
	}
}

// startCluster starts the three masters, persistent or not, and joins
// them in a Cluster; nodes are stopped when t ends.
func startCluster(t testing.TB, persistent bool) *Cluster {
	t.Helper()
	RequireServer(t)
	c, err := StartClusterServers(t.TempDir(), persistent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop) // before t.TempDir removes the files: cleanups run last first
	return c
}

// StartClusterServers starts three redis-server masters keeping their
// files in dir, persistent or not (StartPersistentCluster), and joins them
// in a Cluster as redis-cli --cluster create does; Stop stops them. It
// needs redis-server 7.0 or later (for --cluster-port).
func StartClusterServers(dir string, persistent bool) (_ *Cluster, err error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redistest: a Cluster needs redis-server, and none is installed")
	}
	c := &Cluster{path: path}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	const masters = 3
	busPorts := make([]string, masters)
	for i := range masters {
		nodeDir := dir
		if persistent { // the append-only files of two nodes must not meet
			nodeDir = filepath.Join(dir, strconv.Itoa(i))
			if err := os.Mkdir(nodeDir, 0o700); err != nil {
				return nil, err
			}
		}
		p, err := start(c.path, 2, func(ports []string) []string {
			busPorts[i] = ports[1]
			return append(nodeArgs(ports[0], nodeDir, persistent),
				"--cluster-enabled", "yes",
				"--cluster-port", ports[1],
				"--cluster-config-file", "nodes-"+ports[0]+".conf",
				"--cluster-node-timeout", "5000")
		})
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.nodes = append(c.nodes, p)
		c.mu.Unlock()
		c.Addrs = append(c.Addrs, p.addr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	clients := make([]*redis.Client, masters)
	for i, n := range c.nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.addr})
		defer clients[i].Close()
	}
	// As redis-cli --cluster create does: distinct config epochs, the slots
	// split in three, then every node introduced to the first.
	for i, rc := range clients {
		lo, hi := i*16384/masters, (i+1)*16384/masters-1
		if err := rc.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return nil, fmt.Errorf("redistest: CLUSTER SET-CONFIG-EPOCH on %s: %w", c.Addrs[i], err)
		}
		if err := rc.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			return nil, fmt.Errorf("redistest: CLUSTER ADDSLOTS %d-%d on %s: %w", lo, hi, c.Addrs[i], err)
		}
	}
	for i, addr := range c.Addrs[1:] {
		host, port, _ := net.SplitHostPort(addr)
		if err := clients[0].Do(ctx, "CLUSTER", "MEET", host, port, busPorts[i+1]).Err(); err != nil {
			return nil, fmt.Errorf("redistest: CLUSTER MEET %s: %w", addr, err)
		}
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// waitReady waits until every node reports the Cluster whole: state ok,
// every slot served, every node known.
func (c *Cluster) waitReady(ctx context.Context) error {
	for _, n := range c.nodes {
		rc := redis.NewClient(&redis.Options{Addr: n.addr, MaxRetries: -1})
		err := poll(ctx, n, func() error {
			info, err := rc.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:" + strconv.Itoa(len(c.nodes))} {
				if !strings.Contains(info, want+"\r\n") {
					return fmt.Errorf("CLUSTER INFO lacks %s:\n%s", want, info)
				}
			}
			return nil
		})
		_ = rc.Close()
		if err != nil {
			return fmt.Errorf("redistest: cluster node %s not ready: %w", n.addr, err)
		}
	}
	return nil
}

// StartSentinel starts a master redis-server and two Sentinels monitoring
// it, and returns the Sentinels' addresses and the master's name once each
// Sentinel reports the master's address. Without redis-server it skips t.
func StartSentinel(t testing.TB) (sentinelAddrs []string, master string) {
	t.Helper()
	path := serverPath(t)
	const sentinels = 2
	master = "punctual"
	dir := t.TempDir()
	m, err := start(path, 1, func(ports []string) []string { return serverArgs(ports[0], dir) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	host, port, _ := net.SplitHostPort(m.addr)

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for i := range sentinels {
		// A Sentinel rewrites its configuration file: each gets its own,
		// written afresh for each port tried.
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		var werr error
		s, err := start(path, 1, func(ports []string) []string {
			werr = os.WriteFile(conf, []byte(fmt.Sprintf(
				"sentinel monitor %[1]s %[2]s %[3]s 1\nsentinel down-after-milliseconds %[1]s 5000\n",
				master, host, port)), 0o600)
			return []string{conf, "--sentinel", "--port", ports[0], "--bind", "127.0.0.1", "--dir", dir}
		})
		if err != nil {
			t.Fatal(errors.Join(werr, err))
		}
		t.Cleanup(s.stop)
		c := redis.NewSentinelClient(&redis.Options{Addr: s.addr})
		err = poll(ctx, s, func() error {
			got, err := c.GetMasterAddrByName(ctx, master).Result()
			if err != nil {
				return err
			}
			if addr := net.JoinHostPort(got[0], got[1]); addr != m.addr {
				return fmt.Errorf("master %s at %s, want %s", master, addr, m.addr)
			}
			return nil
		})
		_ = c.Close()
		if err != nil {
			t.Fatalf("redistest: sentinel %s not ready: %v", s.addr, err)
		}
		sentinelAddrs = append(sentinelAddrs, s.addr)
	}
	return sentinelAddrs, master
}

// RequireServer ends t unless redis-server is installed: a test of what
// the embedded Redis cannot play (a Cluster, a Sentinel, ACL users) is
// skipped, or fails under REQUIRE_REDIS_SERVER=1.
func RequireServer(t testing.TB) {
	t.Helper()
	serverPath(t)
}

// serverPath returns the path of redis-server, or ends t: a skip, or a
// failure under REQUIRE_REDIS_SERVER=1.
func serverPath(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	switch {
	case err == nil:
		return path
	case os.Getenv("REQUIRE_REDIS_SERVER") == "1":
		t.Fatal("redistest: REQUIRE_REDIS_SERVER=1 but no redis-server is installed")
	default:
		t.Skip("redistest: no redis-server installed, and the embedded Redis cannot play a Cluster, a Sentinel or ACL users; set REQUIRE_REDIS_SERVER=1 to make this a failure")
	}
	return ""
}

// serverArgs are the arguments of a redis-server on 127.0.0.1:port that
// keeps nothing on disk but what it must, in dir.
func serverArgs(port, dir string) []string {
	return nodeArgs(port, dir, false)
}

// nodeArgs are serverArgs, or with persistent those of a redis-server
// that appends every write to a file in dir and fsyncs it before it
// answers: killed, it loses nothing it acknowledged.
func nodeArgs(port, dir string, persistent bool) []string {
	aof := []string{"--appendonly", "no"}
	if persistent {
		aof = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	return append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--dir", dir}, aof...)
}

// process is a running redis-server.
type process struct {
	addr   string
	args   []string // what it was started with: a restart repeats them
	cmd    *exec.Cmd
	exited chan struct{}
	out    *tail
}

// stop kills the process and waits for it to exit.
func (p *process) stop() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// start runs redis-server with the arguments args gives for n free
// loopback ports (the first is the one it serves), and waits until it
// answers. A free port can be taken by another process before redis-server
// binds it: then it exits, and other ports are tried.
func start(path string, n int, args func(ports []string) []string) (*process, error) {
	var last error
	for range 5 {
		ports, err := freePorts(n)
		if err != nil {
			return nil, err
		}
		p, err := launch(path, net.JoinHostPort("127.0.0.1", ports[0]), args(ports))
		if !errors.Is(err, errExited) {
			return p, err
		}
		last = err
	}
	return nil, fmt.Errorf("redistest: redis-server exited at start on every free port tried: %w", last)
}

// launch runs redis-server with args, serving addr, and waits until it
// answers; an error wraps errExited when it exited first.
func launch(path, addr string, args []string) (*process, error) {
	out := &tail{}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redistest: start redis-server: %w", err)
	}
	p := &process{addr: addr, args: args, cmd: cmd, exited: make(chan struct{}), out: out}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1})
	defer c.Close()
	switch err := poll(ctx, p, func() error { return c.Ping(ctx).Err() }); {
	case err == nil:
		return p, nil
	case errors.Is(err, errExited):
		return nil, err
	default:
		p.stop()
		return nil, fmt.Errorf("redistest: redis-server on %s not ready: %w\n%s", p.addr, err, out)
	}
}

var errExited = errors.New("redis-server exited")

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]string, error) {
	ports := make([]string, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		_, ports[i], _ = net.SplitHostPort(l.Addr().String())
	}
	return ports, nil
}

// poll calls check until it succeeds, p exits or ctx ends, and returns
// check's last error when ctx ends.
func poll(ctx context.Context, p *process, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%w: %s", errExited, p.out)
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tail keeps the last 4 KiB written to it: what a redis-server said.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tail) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	if over := len(w.buf) - 4096; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(b), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
