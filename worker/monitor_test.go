package worker_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// get fetches url with the basic auth user:password when user is set.
func get(t *testing.T, url, user, password string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err = http.DefaultClient.Do(req); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestMonitorIsGuardedAndListsTheQueues(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"MONITOR_ADDR": "127.0.0.1:0", "MONITOR_PASSWORD": "s3cret"})
	addr := e.worker.MonitorAddr()
	e.enqueue(t, `{"type":"leadconnector:send_message","process_at":"2030-01-01T00:00:00Z","payload":{"type":"SMS","contactId":"c1"}}`)
	base := "http://" + addr + "/monitor/"
	if code, _ := get(t, base, "", ""); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", code)
	}
	if code, _ := get(t, base, "admin", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("with a wrong password: %d, want 401", code)
	}
	if code, body := get(t, base, "admin", "s3cret"); code != http.StatusOK || !strings.Contains(body, `<div id="root">`) {
		t.Errorf("the UI page: %d %.200s", code, body)
	}
	code, body := get(t, base+"api/queues", "admin", "s3cret")
	var queues struct {
		Queues []struct {
			Queue     string `json:"queue"`
			Scheduled int    `json:"scheduled"`
		} `json:"queues"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &queues) != nil {
		t.Fatalf("the queues API: %d %.200s", code, body)
	}
	found := false
	for _, q := range queues.Queues {
		found = found || q.Queue == "leadconnector" && q.Scheduled == 1
	}
	if !found {
		t.Errorf("the queues API does not list leadconnector with its scheduled send: %s", body)
	}
}

// TestMonitorInABrowser loads the UI in headless Chromium and checks that
// the page lists the project's queues. Without Chromium it is skipped,
// unless REQUIRE_BROWSER=1 (CI), which makes that a failure.
func TestMonitorInABrowser(t *testing.T) {
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("REQUIRE_BROWSER") == "1" {
			t.Fatal("REQUIRE_BROWSER=1 but chromium is not installed")
		}
		t.Skip("chromium is not installed")
	}
	e := setup(t, map[string]string{"MONITOR_ADDR": "127.0.0.1:0"})
	addr := e.worker.MonitorAddr()
	e.enqueue(t, `{"type":"mateo:send_message","queue":"bulk","process_at":"2030-01-01T00:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}}`)
	e.enqueue(t, `{"type":"leadconnector:send_message","process_at":"2030-01-01T00:00:00Z","payload":{"type":"SMS","contactId":"c1"}}`)
	get(t, "http://"+addr+"/monitor/", "", "") // up

	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	shot := filepath.Join(dir, "monitor.png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=10000", "--window-size=1280,800"}
	dom, err := exec.CommandContext(ctx, chromium, append(args, "--dump-dom", "http://"+addr+"/monitor/")...).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	for _, queue := range []string{"bulk", "leadconnector"} {
		if !strings.Contains(string(dom), ">"+queue+"<") {
			t.Errorf("the page as the browser built it does not list the queue %q", queue)
		}
	}
	if out, err := exec.CommandContext(ctx, chromium, append(args, "--screenshot="+shot, "http://"+addr+"/monitor/")...).CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, out)
	}
	if info, err := os.Stat(shot); err != nil || info.Size() < 10_000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)
}
