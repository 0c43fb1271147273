package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/punctualhq/punctual/internal/redistest"
)

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestBatchNamesAnUnreadableFileWhateverRedisState(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nosuch.jsonl")
	for _, redisURL := range []string{"redis://" + closedAddr(t) + "/0", "redis://" + redistest.Start(t).Addr + "/0"} {
		code, out, errOut := exe(t, []string{"REDIS_URL=" + redisURL}, "", "batch", missing)
		if code != 1 || !strings.Contains(errOut, "open "+missing+": no such file or directory") || strings.Contains(errOut, "cannot reach") || out != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 1 and the file named, not Redis", redisURL, code, out, errOut)
		}
	}
	report := filepath.Join(t.TempDir(), "no-dir", "report.jsonl")
	code, _, errOut := exe(t, []string{"REDIS_URL=redis://" + closedAddr(t) + "/0"}, envelope+"\n", "batch", "--report", report, "-")
	if code != 1 || !strings.Contains(errOut, "--report: open "+report) || strings.Contains(errOut, "cannot reach") {
		t.Errorf("--report in a missing directory: exit %d, stderr %q", code, errOut)
	}
}

func TestRejectedEnvelopesAndBadTaskIDsExit2(t *testing.T) {
	t.Parallel()
	env := []string{"REDIS_URL=redis://" + redistest.Start(t).Addr + "/0", "SEND_WINDOWS=office=Europe/Berlin 09:00-17:00"}
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"tz auto without a phone number", []string{"send", `{"type":"mateo:send_message","window":{"tz":"auto","from":"08:00","to":"21:00"},"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}`},
			`window.tz: tz "auto" needs the recipient's phone number`},
		{"unknown window name", []string{"send", `{"type":"mateo:send_message","window":"nights","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi"}}`},
			`window "nights": SEND_WINDOWS has no window of that name`},
		{"cancel", []string{"cancel", "notauuid"}, `TASK_ID: not a task id (a UUID such as 5c1b0d52-8d9e-5b71-a3c4-0e6f7a8b9c1d): "notauuid"`},
		{"reschedule", []string{"reschedule", "notauuid", "2031-01-01T00:00:00Z"}, `TASK_ID: not a task id`},
		{"retry", []string{"retry", "notauuid"}, `TASK_ID: not a task id`},
		{"status", []string{"status", "notauuid"}, `TASK_ID: not a task id`},
		{"list limit", []string{"list", "--limit", "0"}, `--limit: must be at least 1, not 0`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := exe(t, env, "", c.args...)
			if code != 2 || !strings.Contains(errOut, c.wantErr) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, c.wantErr)
			}
		})
	}
}

func TestSendWithoutAKeyIsOneSend(t *testing.T) {
	useRedis(t)
	noKey := `{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c1","message":"Hi","scheduledTimestamp":1893456000}}`
	code, out, errOut := cli(t, "", "send", noKey)
	m := idState.FindStringSubmatch(out)
	if code != 0 || m == nil || m[2] != "scheduled" {
		t.Fatalf("send: exit %d, %q %q", code, out, errOut)
	}
	// Spelled otherwise, the same envelope: the same send.
	respelled := `{ "payload": {"message":"Hi","contactId":"c1","type":"SMS","scheduledTimestamp":1893456000}, "account":"default", "type":"leadconnector:send_message" }`
	if code, out, _ = cli(t, respelled+"\n", "send", "-"); code != 0 || out != m[1]+" duplicate\n" {
		t.Errorf("the same envelope again: exit %d, %q; want %s duplicate", code, out, m[1])
	}
	// batch derives the same key: the line is the send's duplicate.
	if code, out, _ = cli(t, noKey+"\n", "batch", "-"); code != 0 || !strings.HasPrefix(out, "enqueued 0, duplicate 1, rejected 0") {
		t.Errorf("batch of the same envelope: exit %d, %q", code, out)
	}
	if code, out, _ = cli(t, strings.Replace(noKey, "Hi", "Ho", 1), "send", "-"); code != 0 || strings.Contains(out, m[1]) {
		t.Errorf("another envelope: exit %d, %q; want a new send", code, out)
	}
}

func TestDryRunCountsWhatIsAlreadyEnqueuedAsDuplicate(t *testing.T) {
	useRedis(t)
	line := `{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c%d","message":"Hi"}}`
	file := filepath.Join(t.TempDir(), "batch.jsonl")
	write := func(ns ...int) {
		var lines []string
		for _, n := range ns {
			lines = append(lines, fmt.Sprintf(line, n))
		}
		if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(1, 2)
	if code, out, errOut := cli(t, "", "batch", file); code != 0 || !strings.HasPrefix(out, "enqueued 2,") {
		t.Fatalf("batch: exit %d, %q %q", code, out, errOut)
	}
	write(1, 2, 3, 3)
	code, out, errOut := cli(t, "", "batch", "--dry-run", file)
	if code != 0 || !strings.HasPrefix(out, "valid (dry run, nothing enqueued) 1, duplicate 3, rejected 0; 4 lines") || errOut != "" {
		t.Errorf("dry run: exit %d, %q %q; want lines 1 and 2 in Redis and line 4 a repeat", code, out, errOut)
	}
	// Nothing was enqueued: the real run enqueues line 3 once.
	if code, out, _ := cli(t, "", "batch", file); code != 0 || !strings.HasPrefix(out, "enqueued 1, duplicate 3,") {
		t.Errorf("batch after the dry run: exit %d, %q", code, out)
	}
}

func TestDryRunWithoutRedisChecksTheLinesAndSaysDuplicatesWereNot(t *testing.T) {
	t.Parallel()
	good := `{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c1","message":"Hi"}}`
	bad := `{"type":"leadconnector:send_message","payload":{"type":"Fax","contactId":"c2"}}`
	code, out, errOut := exe(t, []string{"REDIS_URL=redis://" + closedAddr(t) + "/0"}, good+"\n"+bad+"\n", "batch", "--dry-run", "-")
	if code != 2 || !strings.HasPrefix(out, "valid (dry run, nothing enqueued) 1, duplicate 0, rejected 1") ||
		!regexp.MustCompile(`(?m)^line 2: payload.type`).MatchString(errOut) || !strings.Contains(errOut, "were not looked for") {
		t.Errorf("exit %d, stdout %q, stderr %q; want the lines checked and duplicates said unchecked", code, out, errOut)
	}
}
