package worker_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// get fetches url with the basic auth user:password when user is set.
func get(t *testing.T, url, user, password string) (int, string) {
	t.Helper()
	return do(t, http.MethodGet, url, user, password, nil)
}

// do sends a bodiless request with header, and with the basic auth
// user:password when user is set, waiting for the server to be up.
func do(t *testing.T, method, url, user, password string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
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
		t.Fatalf("%s %s: %v", method, url, err)
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

// TestMonitorRefusesCrossSiteChanges checks that a page on another site
// cannot make the operator's browser change the queues (the browser
// replays basic-auth credentials), while scripts and the UI itself can.
func TestMonitorRefusesCrossSiteChanges(t *testing.T) {
	t.Parallel()
	for _, password := range []string{"", "s3cret"} {
		name := "without a password"
		if password != "" {
			name = "with a password"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			extra := map[string]string{"MONITOR_ADDR": "127.0.0.1:0"}
			user := ""
			if password != "" {
				extra["MONITOR_PASSWORD"], user = password, "admin"
			}
			e := setup(t, extra)
			addr := e.worker.MonitorAddr()
			api := "http://" + addr + "/monitor/api/queues/leadconnector"
			e.enqueue(t, `{"type":"leadconnector:send_message","process_at":"2030-01-01T00:00:00Z","payload":{"type":"SMS","contactId":"c1"}}`)
			queue := func() *asynq.QueueInfo {
				t.Helper()
				info, err := e.inspector.GetQueueInfo("leadconnector")
				if err != nil {
					t.Fatal(err)
				}
				return info
			}

			for _, c := range []struct {
				name    string
				header  http.Header
				allowed bool
			}{
				{"a foreign Origin", http.Header{"Origin": {"https://evil.example"}}, false},
				{"an Origin on another port", http.Header{"Origin": {"http://127.0.0.1:1"}}, false},
				{"a cross-site fetch", http.Header{"Sec-Fetch-Site": {"cross-site"}}, false},
				{"a same-site fetch", http.Header{"Sec-Fetch-Site": {"same-site"}}, false},
				{"the monitor's own Origin", http.Header{"Origin": {"http://" + addr}}, true},
				{"a same-origin fetch", http.Header{"Sec-Fetch-Site": {"same-origin"}}, true},
				{"a script", nil, true},
			} {
				code, body := do(t, http.MethodPost, api+":pause", user, password, c.header)
				switch paused := queue().Paused; {
				case c.allowed && (code != http.StatusNoContent || !paused):
					t.Errorf("%s: pause answered %d %q, paused %v; want 204 and paused", c.name, code, body, paused)
				case !c.allowed && (code != http.StatusForbidden || paused):
					t.Errorf("%s: pause answered %d %q, paused %v; want 403 and not paused", c.name, code, body, paused)
				}
				if queue().Paused {
					if err := e.inspector.UnpauseQueue("leadconnector"); err != nil {
						t.Fatal(err)
					}
				}
			}

			if code, body := do(t, http.MethodDelete, api+"/scheduled_tasks:delete_all", user, password,
				http.Header{"Sec-Fetch-Site": {"cross-site"}}); code != http.StatusForbidden || queue().Scheduled != 1 {
				t.Errorf("a cross-site delete: %d %q, %d scheduled left; want 403 and 1", code, body, queue().Scheduled)
			}
			if code, body := do(t, http.MethodGet, api, user, password,
				http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}); code != http.StatusOK {
				t.Errorf("a cross-site read: %d %.200s; want 200", code, body)
			}
		})
	}
}

// chromium returns the path of Chromium and its headless arguments with a
// fresh profile. Without Chromium it skips t, unless REQUIRE_BROWSER=1
// (CI), which makes that a failure.
func chromium(t *testing.T) (string, []string) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("REQUIRE_BROWSER") == "1" {
			t.Fatal("REQUIRE_BROWSER=1 but chromium is not installed")
		}
		t.Skip("chromium is not installed")
	}
	return path, []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=10000", "--window-size=1280,800"}
}

// TestMonitorInABrowser loads the UI in headless Chromium and checks that
// the page lists the project's queues.
func TestMonitorInABrowser(t *testing.T) {
	t.Parallel()
	chromium, args := chromium(t)
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

// TestMonitorRefusesAFormFromAnotherSiteInABrowser has Chromium open a
// page on another origin that posts a form to the monitor's API, as an
// attacker's page would, and checks that the queue stays as it was.
func TestMonitorRefusesAFormFromAnotherSiteInABrowser(t *testing.T) {
	t.Parallel()
	chromium, args := chromium(t)
	e := setup(t, map[string]string{"MONITOR_ADDR": "127.0.0.1:0"})
	addr := e.worker.MonitorAddr()
	e.enqueue(t, `{"type":"leadconnector:send_message","process_at":"2030-01-01T00:00:00Z","payload":{"type":"SMS","contactId":"c1"}}`)
	page := `<form method="POST" action="http://` + addr + `/monitor/api/queues/leadconnector:pause"></form>
<script>document.forms[0].submit()</script>`
	other := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(rw, page)
	}))
	t.Cleanup(other.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, chromium, append(args, "--dump-dom", other.URL)...).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	// The browser shows the monitor's answer only if the form reached it.
	if !strings.Contains(string(dom), "cross-origin request") {
		t.Errorf("the browser did not land on the monitor's refusal: %.300s", dom)
	}
	if info, err := e.inspector.GetQueueInfo("leadconnector"); err != nil || info.Paused {
		t.Errorf("the form from another site paused the queue (err %v)", err)
	}
}
