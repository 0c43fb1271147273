package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/workertest"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/sandbox"
)

// TestStatusAndListShowAWaitAsAWait runs a worker whose recipient cap
// holds back a second message to the same person: enqueue shows it
// waiting, for the cap, until the exact time, not as a retry after an
// error, nor a second early.
func TestStatusAndListShowAWaitAsAWait(t *testing.T) {
	redisURL := useRedis(t)
	srv := httptest.NewServer(sandbox.New(sandbox.Config{Tokens: map[string]map[string]string{"mateo": {"tok": "default"}}}))
	t.Cleanup(srv.Close)
	cfg, err := config.LoadFrom(map[string]string{
		"REDIS_URL": redisURL, "MATEO_BASE_URL": srv.URL + "/api/v1", "MATEO_TOKEN": "tok", "HTTP_ADDR": "127.0.0.1:0",
		"RECIPIENT_CAPS": "1/24h",
	})
	if err != nil {
		t.Fatal(err)
	}
	workertest.Run(t, cfg)

	send := func(text string) {
		t.Helper()
		code, out, errOut := cli(t, "", "send", "--wait", `{"type":"mateo:send_message","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"`+text+`"}}`)
		if code != 0 {
			t.Fatalf("send %s: exit %d, %s, %s", text, code, out, errOut)
		}
	}
	send("first")
	code, out, errOut := cli(t, "", "send", `{"type":"mateo:send_message","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"second"}}`)
	if code != 0 {
		t.Fatalf("second send: exit %d, %s", code, errOut)
	}
	second := strings.Fields(out)[0]

	until := regexp.MustCompile(`(?m)^until: +(\S+)$`)
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		code, out, errOut = cli(t, "", "status", second)
		if code == 0 && strings.Contains(out, "waiting") {
			break
		}
		select {
		case <-deadline:
			done = true
		case <-tick.C:
		}
	}
	if code != 0 || !regexp.MustCompile(`(?m)^state: +waiting$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^waiting for: +.*\(recipient_cap\)$`).MatchString(out) || strings.Contains(out, "last error") {
		t.Fatalf("status: exit %d, %q\n%s; want waiting for the recipient cap, no error", code, errOut, out)
	}
	m := until.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("status names no time waited for:\n%s", out)
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil || time.Until(at) < 23*time.Hour {
		t.Errorf("until %q (%v): want about a day from now", m[1], err)
	}
	// The time is the cap's, to the microsecond: asynq's own is the whole
	// second before it.
	_, out, _ = cli(t, "", "status", "--json", second)
	var s struct {
		NextProcessAt time.Time `json:"next_process_at"`
		Wait          struct{ Until time.Time }
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || !s.Wait.Until.Equal(at) || !s.NextProcessAt.Before(at) {
		t.Errorf("status --json: %v, wait until %s, asynq's next %s; want %s, after asynq's", err, s.Wait.Until, s.NextProcessAt, at)
	}
	code, out, _ = cli(t, "", "list")
	row := regexp.MustCompile(`(?m)^` + second + `\s.*$`).FindString(out)
	if code != 0 || !strings.Contains(row, " waiting ") || !strings.Contains(row, fmt.Sprintf("waiting for recipient_cap until %s", m[1])) {
		t.Errorf("list: exit %d, row %q\n%s", code, row, out)
	}
}
