package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/punctualhq/punctual/internal/workertest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
)

// A busy run of the worker binary against the sandbox, which holds every
// answer back 100 ms, for tests that stop the worker the hard way.
const concurrency = 16

type busyRun struct {
	t           *testing.T
	bin         string
	env         []string
	sb          *sandbox.Server
	conn        asynq.RedisClientOpt
	perProvider int
}

// newBusyRun enqueues perProvider sends for each provider, with keys.
func newBusyRun(t *testing.T, perProvider int, extraEnv ...string) *busyRun {
	t.Helper()
	conn := redistest.Start(t)
	sb := sandbox.New(sandbox.Config{Faults: sandbox.Faults{Slow: 1, SlowDelay: 100 * time.Millisecond}})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	r := &busyRun{t: t, bin: buildWorker(t), sb: sb, conn: conn, perProvider: perProvider}
	r.env = append(os.Environ(), "REDIS_URL=redis://"+conn.Addr+"/0", "MATEO_BASE_URL="+srv.URL+"/api/v1",
		"MATEO_TOKEN=t", "LEADCONNECTOR_BASE_URL="+srv.URL, "LEADCONNECTOR_TOKEN=t", "RATE_LIMITS=off",
		fmt.Sprintf("WORKER_CONCURRENCY=%d", concurrency), "HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=error")
	r.env = append(r.env, extraEnv...)
	p := producer.New(conn)
	defer p.Close()
	for i := range perProvider {
		for _, e := range []string{
			fmt.Sprintf(`{"type":"mateo:send_message","key":"m%d","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"%d"}}`, i, i),
			fmt.Sprintf(`{"type":"leadconnector:send_message","key":"l%d","payload":{"type":"SMS","contactId":"c%d"}}`, i, i),
		} {
			if _, err := p.EnqueueJSON(context.Background(), []byte(e)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return r
}

// start runs a worker process, stopped at the end of the test.
func (r *busyRun) start() *exec.Cmd {
	r.t.Helper()
	cmd := exec.Command(r.bin)
	cmd.Env = r.env
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// waitRequests waits until the sandbox has had n requests.
func (r *busyRun) waitRequests(n int) {
	r.t.Helper()
	within := 20*time.Second + time.Duration(n-len(r.sb.Requests()))*10*time.Millisecond
	for deadline := time.Now().Add(within); len(r.sb.Requests()) < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("fewer than %d requests", n)
		}
	}
}

// check waits until every send completed, then checks that Mateo
// accepted each message id once and LeadConnector repeated at most the
// sends in flight when the worker stopped. It returns those repeats.
func (r *busyRun) check() (lcRepeats int) {
	r.t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.conn.Addr})
	defer rdb.Close()
	for deadline := time.Now().Add(60*time.Second + time.Duration(r.perProvider)*20*time.Millisecond); ; time.Sleep(100 * time.Millisecond) {
		m, l := workertest.Completed(r.t, rdb, "mateo"), workertest.Completed(r.t, rdb, "leadconnector")
		if m == r.perProvider && l == r.perProvider {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("not every send completed: mateo %d, leadconnector %d of %d", m, l, r.perProvider)
		}
	}
	accepted := map[string]int{} // provider:message id or contact -> answered 200
	for _, req := range r.sb.Requests() {
		var body struct{ ID, ContactID string }
		if req.Status == http.StatusOK && json.Unmarshal(req.Body, &body) == nil {
			accepted[req.Provider+":"+body.ID+body.ContactID]++
		}
	}
	for key, n := range accepted {
		switch {
		case n > 1 && strings.HasPrefix(key, "mateo:"):
			r.t.Errorf("Mateo accepted %s %d times", key, n)
		case n > 1:
			lcRepeats += n - 1
		}
	}
	if len(accepted) != 2*r.perProvider {
		r.t.Errorf("%d distinct sends accepted, want %d", len(accepted), 2*r.perProvider)
	}
	return lcRepeats
}

// TestKillNineLosesNothing kills the worker process with SIGKILL in the
// middle of a run and starts another: every send ends completed, Mateo
// accepts each message id once, and LeadConnector's repeats are only
// sends that were in flight at a kill. The killed worker's tasks come back
// a minute later, when asynq's recoverer finds their lease expired.
// RELIABILITY_LONG=1 runs 20,000 sends with three kills (about 6 minutes).
func TestKillNineLosesNothing(t *testing.T) {
	t.Parallel()
	perProvider, kills := 300, 1
	if os.Getenv("RELIABILITY_LONG") == "1" {
		perProvider, kills = 10_000, 3
	}
	r := newBusyRun(t, perProvider)
	var killedAt []int
	for k := range kills {
		w := r.start()
		more := 100 // the first kill comes early, the others later in the run
		if k > 0 {
			more = 2000
		}
		r.waitRequests(len(r.sb.Requests()) + more)
		if err := w.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = w.Wait()
		killedAt = append(killedAt, len(r.sb.Requests()))
		// asynq takes back a task 30 s after its lease (30 s) ran out; the
		// next worker's recoverer looks at once.
		time.Sleep(61 * time.Second)
	}
	r.start()
	repeats := r.check()
	if repeats > kills*concurrency {
		t.Errorf("%d LeadConnector repeats, more than the %d sends in flight at %d kills", repeats, kills*concurrency, kills)
	}
	t.Logf("killed after %v requests; %d sends completed, none lost; LeadConnector repeats: %d", killedAt, 2*perProvider, repeats)
}

// TestSIGTERMWhileBusyLosesNothing stops a busy worker with SIGTERM: it
// exits 0 within SHUTDOWN_TIMEOUT, the sends it did not make go back to
// their queue, and the next worker makes them, each once.
func TestSIGTERMWhileBusyLosesNothing(t *testing.T) {
	t.Parallel()
	const bound = time.Second
	r := newBusyRun(t, 300, "SHUTDOWN_TIMEOUT="+bound.String())
	first := r.start()
	r.waitRequests(100)
	start := time.Now()
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0", err)
	}
	if took := time.Since(start); took > bound+2*time.Second {
		t.Errorf("stopping took %s, over SHUTDOWN_TIMEOUT %s", took, bound)
	}
	stoppedAt := len(r.sb.Requests())
	r.start()
	if repeats := r.check(); repeats > concurrency {
		t.Errorf("%d LeadConnector repeats, more than the %d sends in flight", repeats, concurrency)
	}
	t.Logf("stopped after %d requests; %d sends completed, none lost", stoppedAt, 600)
}

// TestKillNineWithAtMostOnceSendsNoLeadConnectorMessageTwice kills a busy
// worker with AT_MOST_ONCE=leadconnector: no LeadConnector message reaches
// the provider twice, and the sends that were in flight at the kill, whose
// outcome nobody knows, end archived as unknown instead of sent again.
func TestKillNineWithAtMostOnceSendsNoLeadConnectorMessageTwice(t *testing.T) {
	t.Parallel()
	const n = 300
	r := newBusyRun(t, n, "AT_MOST_ONCE=leadconnector")
	w := r.start()
	r.waitRequests(100)
	if err := w.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w.Wait()
	time.Sleep(61 * time.Second) // for the lease to run out, as above
	r.start()

	ins := asynq.NewInspector(r.conn)
	defer ins.Close()
	rdb := redis.NewClient(&redis.Options{Addr: r.conn.Addr})
	defer rdb.Close()
	var lc *asynq.QueueInfo
	var lcCompleted int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		m := workertest.Completed(t, rdb, "mateo")
		l, err := ins.GetQueueInfo("leadconnector")
		if err == nil {
			lc, lcCompleted = l, workertest.Completed(t, rdb, "leadconnector")
		}
		if err == nil && m == n && lcCompleted+l.Archived == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every send ended: mateo %d completed, leadconnector %d completed and %+v", m, lcCompleted, lc)
		}
	}
	sent := map[string]int{}
	for _, req := range r.sb.Requests() {
		var body struct{ ContactID string }
		if req.Provider == "leadconnector" && json.Unmarshal(req.Body, &body) == nil {
			sent[body.ContactID]++
		}
	}
	for contact, k := range sent {
		if k > 1 {
			t.Errorf("LeadConnector got %d requests for %s", k, contact)
		}
	}
	if lc.Archived > concurrency {
		t.Errorf("%d sends archived, more than the %d in flight at the kill", lc.Archived, concurrency)
	}
	archived, err := ins.ListArchivedTasks("leadconnector")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range archived {
		if !strings.Contains(a.LastErr, "outcome unknown") {
			t.Errorf("archived %s: %q, want outcome unknown", a.ID, a.LastErr)
		}
	}
	t.Logf("%d LeadConnector sends completed, %d archived as unknown, 0 sent twice", lcCompleted, lc.Archived)
}
