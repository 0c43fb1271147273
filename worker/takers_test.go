package worker_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
)

// ownServers returns the asynq servers this process runs, once at least
// one has registered (each does as it starts).
func (e *env) ownServers(t *testing.T) []*asynq.ServerInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, err := e.inspector.Servers()
		if err != nil {
			t.Fatal(err)
		}
		var own []*asynq.ServerInfo
		for _, s := range all {
			if s.PID == os.Getpid() {
				own = append(own, s)
			}
		}
		if len(own) > 0 || time.Now().After(deadline) {
			return own
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A worker with 64 send slots takes tasks in four loops (asynq servers),
// the first of which holds the tasks not yet due. A backlog waiting at its
// start, which every loop takes from at once, goes out once each, and all
// four stop with the worker.
func TestFourLoopsTakeABacklogOnceEachAndStopTogether(t *testing.T) {
	conn := redistest.Start(t)
	p := producer.New(conn)
	defer p.Close()
	ids := enqueueEach(t, p, 2000, func(i int) string { return capped("ana@example.com", fmt.Sprint("hi ", i), "") })
	e := setupWith(t, newSandbox(), map[string]string{"REDIS_URL": "redis://" + conn.Addr + "/0", "WORKER_CONCURRENCY": "64"})

	deadline := time.Now().Add(10 * time.Second)
	servers := e.ownServers(t)
	for ; len(servers) < 4 && time.Now().Before(deadline); servers = e.ownServers(t) {
		time.Sleep(20 * time.Millisecond)
	}
	var taking []int
	for _, s := range servers {
		taking = append(taking, s.Concurrency)
	}
	slices.Sort(taking)
	// The first takes the send slots and the tasks held; the others 16 each.
	if want := []int{16, 16, 16, 64 + 2048}; !slices.Equal(taking, want) {
		t.Fatalf("asynq servers taking %v tasks at once, want %v", taking, want)
	}

	e.completedFirstTry(t, ids, time.Minute)
	sent := map[string]int{}
	for _, r := range e.sandbox.Requests() {
		var body struct{ Text string }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		sent[body.Text]++
	}
	for i := range ids {
		if n := sent[fmt.Sprint("hi ", i)]; n != 1 {
			t.Errorf("send %d made %d times", i, n)
		}
	}

	e.stop()
	if all, err := e.inspector.Servers(); err != nil || len(all) != 0 {
		t.Errorf("asynq servers left after the worker stopped: %d (err %v)", len(all), err)
	}
}

// A worker with few send slots takes tasks in one loop, which takes
// them all: its send slots and the tasks it holds.
func TestFewSendSlotsTakeTasksInOneLoop(t *testing.T) {
	e := setup(t, map[string]string{"WORKER_CONCURRENCY": "15"})
	// All servers register as they start: one taking a quarter of the
	// tasks would show as soon as the first.
	if servers := e.ownServers(t); len(servers) != 1 || servers[0].Concurrency != 15+2048 {
		t.Errorf("%d asynq servers; want 1 taking 15 sends and 2048 held at once", len(servers))
	}
}
