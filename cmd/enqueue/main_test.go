package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/punctualhq/punctual/internal/workertest"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/sandbox"
)

const envelope = `{"type":"mateo:send_message","key":"cli-1","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi","send_after":"2030-01-01T00:00:00Z"}}`

// cli runs the command line and returns its exit status and output.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// useRedis points the CLI at a fresh Redis and returns its URL.
func useRedis(t *testing.T) string {
	url := "redis://" + redistest.Start(t).Addr + "/0"
	t.Setenv("REDIS_URL", url)
	return url
}

var idState = regexp.MustCompile(`^([0-9a-f-]{36}) (\w+)\n$`)

func TestSendThenStatus(t *testing.T) {
	useRedis(t)
	code, out, errOut := cli(t, "", "send", envelope)
	m := idState.FindStringSubmatch(out)
	if code != 0 || m == nil || m[2] != "scheduled" {
		t.Fatalf("send: exit %d, out %q, err %q; want an id and scheduled", code, out, errOut)
	}
	id := m[1]

	code, out, _ = cli(t, envelope, "send", "-")
	if code != 0 || out != id+" duplicate\n" {
		t.Errorf("second send: exit %d, out %q; want %q", code, out, id+" duplicate\n")
	}

	code, out, errOut = cli(t, "", "status", id)
	if code != 0 {
		t.Fatalf("status: exit %d, %s", code, errOut)
	}
	for _, want := range []string{"id:", id, "state:", "scheduled", "account:", "default", "due:", "2030-01-01"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

func TestExitStatuses(t *testing.T) {
	useRedis(t)
	cases := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"invalid envelope", []string{"send", `{"type":"mateo:send_message","payload":{"from":"x"}}`}, 2, `payload.from: not a UUID: "x"`},
		{"no argument", []string{"send"}, 2, "accepts 1 arg"},
		{"unknown flag", []string{"send", "--nope", "{}"}, 2, "unknown flag"},
		{"unknown task", []string{"status", "5c1b0d52-8d9e-5b71-a3c4-0e6f7a8b9c1d"}, 1, "no such task"},
		{"no task id", []string{"status", "no-such-task"}, 2, `TASK_ID: not a task id`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := cli(t, "", c.args...)
			if code != c.code || !strings.Contains(errOut, c.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, c.code, c.wantErr)
			}
		})
	}
}

func TestRedisUnreachableExits1(t *testing.T) {
	t.Setenv("REDIS_URL", "redis://127.0.0.1:1/0")
	code, _, errOut := cli(t, "", "send", envelope)
	if code != 1 || !strings.Contains(errOut, "connection refused") {
		t.Errorf("exit %d, stderr %q; want 1 and the connection error", code, errOut)
	}
}

func TestBadConfigurationNamesTheVariable(t *testing.T) {
	t.Setenv("REDIS_URL", "redis://user:s3cret@host:port/0")
	code, _, errOut := cli(t, "", "list")
	if code != 1 || !strings.Contains(errOut, "REDIS_URL") || strings.Contains(errOut, "s3cret") {
		t.Errorf("exit %d, stderr %q; want 1, REDIS_URL named and the password not shown", code, errOut)
	}
}

func TestSendWaitShowsTheProviderAnswer(t *testing.T) {
	redisURL := useRedis(t)
	srv := httptest.NewServer(sandbox.New(sandbox.Config{Tokens: map[string]map[string]string{"mateo": {"tok": "default"}}}))
	t.Cleanup(srv.Close)
	cfg, err := config.LoadFrom(map[string]string{
		"REDIS_URL": redisURL, "MATEO_BASE_URL": srv.URL + "/api/v1", "MATEO_TOKEN": "tok", "HTTP_ADDR": "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	workertest.Run(t, cfg)

	file := filepath.Join(t.TempDir(), "envelope.json")
	if err := os.WriteFile(file, []byte(strings.Replace(envelope, `,"send_after":"2030-01-01T00:00:00Z"`, "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	code, out, errOut := cli(t, string(data), "send", "--wait", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"completed", "answer:", "mateo 200", `"message_id":`, `"conversation_id":`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestListRescheduleCancelRetry(t *testing.T) {
	useRedis(t)
	_, out, _ := cli(t, "", "send", envelope)
	id := strings.Fields(out)[0]

	code, out, errOut := cli(t, "", "reschedule", id, "2031-02-03T04:05:06Z")
	if code != 0 || out != id+" scheduled 2031-02-03T04:05:06Z\n" {
		t.Fatalf("reschedule: exit %d, out %q, err %q", code, out, errOut)
	}
	code, out, _ = cli(t, "", "list", "--state", "scheduled")
	if code != 0 || !strings.HasPrefix(out, "ID ") || !strings.Contains(out, id) || !strings.Contains(out, "2031-02-03") {
		t.Errorf("list: exit %d:\n%s", code, out)
	}
	if code, out, _ = cli(t, "", "cancel", id); code != 0 || out != id+" cancelled\n" {
		t.Errorf("cancel: exit %d, out %q", code, out)
	}
	if code, out, errOut = cli(t, "", "status", id); code != 0 || !regexp.MustCompile(`(?m)^state: +cancelled\n(.*\n)*cancelled: +20`).MatchString(out) {
		t.Errorf("status after cancel: exit %d, %q %q", code, out, errOut)
	}
	if !regexp.MustCompile(`(?m)^was due: +2031-02-03T`).MatchString(out) {
		t.Errorf("status after cancel does not say when it was due:\n%s", out)
	}
	if code, out, _ = cli(t, "", "list", "--state", "cancelled"); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "cancelled 20") || !strings.Contains(out, "2031-02-03T") {
		t.Errorf("list --state cancelled: exit %d:\n%s", code, out)
	}
	if code, out, errOut = cli(t, "", "cancel", id); code != 0 || out != id+" already cancelled\n" {
		t.Errorf("cancel again: exit %d, %q %q; want 0 and already cancelled", code, out, errOut)
	}
	if code, out, _ = cli(t, "", "retry", "--all-archived"); code != 0 || out != "0 archived tasks sent again\n" {
		t.Errorf("retry --all-archived: exit %d, out %q", code, out)
	}
	for _, args := range [][]string{{"retry"}, {"retry", id, "--all-archived"}, {"reschedule", id, "tomorrow"}, {"list", "--state", "lost"}} {
		if code, _, errOut = cli(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut)
		}
	}
}

func TestBatchReportsEveryBadLineAndSkipsDuplicatesOnRerun(t *testing.T) {
	useRedis(t)
	good := `{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c%d","message":"Hi"}}`
	lines := []string{
		fmt.Sprintf(good, 1),
		`{"type":"leadconnector:send_message","payload":` + strings.Repeat(" ", 1<<20) + `{}}`,
		`{"type":"leadconnector:send_message",`,
		"{\"type\":\"leadconnector:send_message\",\"payload\":{\"type\":\"SMS\",\"contactId\":\"\xff\"}}",
		`{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c"},"when":"now"}`,
		`{"type":"leadconnector:send_message","account":7,"payload":{"type":"SMS","contactId":"c"}}`,
		`{"type":"mateo:send_message","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"contact_id":"42"}]}}`,
		``,
		`{"type":"mateo:send_message","process_at":"tomorrow","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}}`,
		strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
		fmt.Sprintf(good, 2),
	}
	file := filepath.Join(t.TempDir(), "batch.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "report.jsonl")
	code, out, errOut := cli(t, "", "batch", "--report", report, file)
	if code != 2 || out == "" || !strings.HasPrefix(out, "enqueued 2, duplicate 0, rejected 8; 11 lines") {
		t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
	}
	want := map[int]string{
		2:  "longer than 1048576 bytes",
		3:  "not a JSON object",
		4:  "not valid UTF-8",
		5:  `when: unknown field`,
		6:  "account: must be a string",
		7:  `payload.to[0].contact_id: not a UUID: "42"`,
		9:  `process_at: not an RFC 3339 time: "tomorrow"`,
		10: "not a JSON object",
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	reported := map[int]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r struct {
			Line  int
			Error string
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("report line %q: %v", l, err)
		}
		reported[r.Line] = r.Error
	}
	for line, reason := range want {
		if !strings.Contains(reported[line], reason) {
			t.Errorf("report for line %d: %q, want %q", line, reported[line], reason)
		}
		if !strings.Contains(errOut, fmt.Sprintf("line %d: ", line)) {
			t.Errorf("stderr does not name line %d:\n%s", line, errOut)
		}
	}
	if len(reported) != len(want) {
		t.Errorf("report has %d lines, want %d: %v", len(reported), len(want), reported)
	}

	code, out, _ = cli(t, "", "batch", file)
	if code != 2 || !strings.HasPrefix(out, "enqueued 0, duplicate 2, rejected 8") {
		t.Errorf("rerun: exit %d, %q", code, out)
	}
	code, out, _ = cli(t, fmt.Sprintf(good, 3)+"\n", "batch", "--dry-run", "-")
	if code != 0 || !strings.HasPrefix(out, "valid (dry run, nothing enqueued) 1, duplicate 0, rejected 0") {
		t.Errorf("dry run: exit %d, %q", code, out)
	}
	if code, _, errOut = cli(t, "", "batch", filepath.Join(t.TempDir(), "missing.jsonl")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
}

func TestLimitsShowsWaitingSends(t *testing.T) {
	useRedis(t)
	t.Setenv("RATE_LIMITS", "mateo=1/s")
	for i := range 3 {
		if code, _, errOut := cli(t, "", "send", fmt.Sprintf(`{"type":"mateo:send_message","account":"acme","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"%d"}}`, i)); code != 0 {
			t.Fatal(errOut)
		}
	}
	code, out, errOut := cli(t, "", "limits")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "PROVIDER") {
		t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
	}
	if f := strings.Fields(lines[1]); len(f) < 4 || f[0] != "mateo" || f[1] != "acme" || (f[2] != "2" && f[2] != "3") {
		t.Errorf("limits row %q, want mateo acme with 2 or 3 sends waiting", lines[1])
	}
}

func TestCancelGroup(t *testing.T) {
	useRedis(t)
	var ids []string
	for _, text := range []string{"first", "second"} {
		code, out, errOut := cli(t, "", "send", `{"type":"mateo:send_message","group":"contact:abc123","process_at":"2031-01-01T00:00:00Z","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"`+text+`"}}`)
		if code != 0 {
			t.Fatalf("send: exit %d, %s", code, errOut)
		}
		ids = append(ids, strings.Fields(out)[0])
	}
	if code, out, errOut := cli(t, "", "cancel", "--group", "contact:abc123"); code != 0 || out != "group contact:abc123: 2 cancelled, 0 already started\n" {
		t.Fatalf("cancel --group: exit %d, out %q, err %q", code, out, errOut)
	}
	code, out, _ := cli(t, "", "status", ids[1])
	if code != 0 || !regexp.MustCompile(`(?m)^state: +cancelled$`).MatchString(out) || !regexp.MustCompile(`(?m)^group: +contact:abc123$`).MatchString(out) {
		t.Errorf("status: exit %d:\n%s", code, out)
	}
	if code, out, _ := cli(t, "", "cancel", "--group", "contact:abc123"); code != 0 || out != "group contact:abc123: 0 cancelled, 0 already started\n" {
		t.Errorf("cancel --group again: exit %d, out %q", code, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cancel"}, "give one TASK_ID or --group G"},
		{[]string{"cancel", ids[0], "--group", "contact:abc123"}, "give one TASK_ID or --group G"},
		{[]string{"cancel", "--group", "contact {abc}"}, `--group: not a group name (letters, digits, _ . - : / @ # + =; at most 128): "contact {abc}"`},
	} {
		if code, _, errOut := cli(t, "", c.args...); code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

func TestVersionNamesTheBuild(t *testing.T) {
	t.Parallel()
	code, out, errOut := cli(t, "", "--version")
	if code != 0 || !strings.HasPrefix(out, "enqueue ") || !strings.HasSuffix(out, ")\n") || errOut != "" {
		t.Errorf("--version: %d, %q, %q; want the name and the build's version", code, out, errOut)
	}
}
