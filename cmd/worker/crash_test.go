package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"punctual/internal/redistest"
	"punctual/producer"
	"punctual/sandbox"
)

// TestKillNineLosesNothing kills the worker process with SIGKILL in the
// middle of a run and starts another: every send ends completed, Mateo
// accepts each message id once, and LeadConnector's repeats are only
// sends that were in flight at the kill. The killed worker's tasks come
// back a minute later, when asynq's recoverer finds their lease expired.
func TestKillNineLosesNothing(t *testing.T) {
	t.Parallel()
	bin := buildWorker(t)
	conn := redistest.Start(t)
	sb := sandbox.New(sandbox.Config{Faults: sandbox.Faults{Slow: 1, SlowDelay: 100 * time.Millisecond}})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	const perProvider, concurrency = 300, 16
	env := append(os.Environ(), "REDIS_URL=redis://"+conn.Addr+"/0", "MATEO_BASE_URL="+srv.URL+"/api/v1",
		"MATEO_TOKEN=t", "LEADCONNECTOR_BASE_URL="+srv.URL, "LEADCONNECTOR_TOKEN=t", "RATE_LIMITS=off",
		fmt.Sprintf("WORKER_CONCURRENCY=%d", concurrency), "HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=error")

	p := producer.New(conn)
	defer p.Close()
	ctx := context.Background()
	for i := range perProvider {
		for _, e := range []string{
			fmt.Sprintf(`{"type":"mateo:send_message","key":"m%d","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"%d"}}`, i, i),
			fmt.Sprintf(`{"type":"leadconnector:send_message","key":"l%d","payload":{"type":"SMS","contactId":"c%d"}}`, i, i),
		} {
			if _, err := p.EnqueueJSON(ctx, []byte(e)); err != nil {
				t.Fatal(err)
			}
		}
	}

	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	first := start()
	for deadline := time.Now().Add(20 * time.Second); len(sb.Requests()) < 100; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first worker sent too little")
		}
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killedAt := len(sb.Requests())
	// asynq takes back a task 30 s after its lease (30 s) ran out; the new
	// worker's recoverer looks at once.
	time.Sleep(61 * time.Second)
	second := start()

	ins := asynq.NewInspector(conn)
	defer ins.Close()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		m, err1 := ins.GetQueueInfo("mateo")
		l, err2 := ins.GetQueueInfo("leadconnector")
		if err1 == nil && err2 == nil && m.Completed == perProvider && l.Completed == perProvider {
			break
		}
		if time.Now().After(deadline) {
			retrying, _ := ins.ListRetryTasks("mateo", asynq.PageSize(1))
			for _, r := range retrying {
				t.Logf("retrying: %s", r.LastErr)
			}
			t.Fatalf("not every send completed after the restart: mateo %+v, leadconnector %+v", m, l)
		}
	}
	_ = second.Process.Signal(syscall.SIGTERM)

	accepted := map[string]int{} // message id or contact -> answered 200
	for _, r := range sb.Requests() {
		if r.Status != http.StatusOK {
			continue
		}
		var body struct{ ID, ContactID string }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		accepted[r.Provider+":"+body.ID+body.ContactID]++
	}
	var lcRepeats int
	for key, n := range accepted {
		switch {
		case n > 1 && key[:5] == "mateo":
			t.Errorf("Mateo accepted %s %d times", key, n)
		case n > 1:
			lcRepeats += n - 1
		}
	}
	if len(accepted) != 2*perProvider {
		t.Errorf("%d distinct sends accepted, want %d", len(accepted), 2*perProvider)
	}
	if lcRepeats > concurrency {
		t.Errorf("%d LeadConnector repeats, more than the %d sends in flight at the kill", lcRepeats, concurrency)
	}
	t.Logf("killed after %d requests; %d sends completed, none lost; LeadConnector repeats: %d", killedAt, 2*perProvider, lcRepeats)
}
