package worker_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/sandbox"
)

// nextMinute is the first whole minute at least 5 s away: a window that
// opens then opens seconds to a minute after the test starts, with time
// to enqueue the sends due before it.
func nextMinute() time.Time {
	return time.Now().Add(5 * time.Second).Truncate(time.Minute).Add(time.Minute)
}

// windowFrom is a window of 30 minutes opening at open in zone, as
// SEND_WINDOWS and an envelope spell it: its day, and its hours.
func windowFrom(t *testing.T, zone string, open time.Time) (day, from, to string) {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	local := open.In(loc)
	return strings.ToLower(local.Weekday().String()[:3]), local.Format("15:04"), local.Add(30 * time.Minute).Format("15:04")
}

// body is what the sandbox got: the message's text.
func textOf(t *testing.T, r sandbox.Request) string {
	t.Helper()
	var body struct{ Text string }
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	return body.Text
}

func TestSendsDueBeforeTheirWindowGoAtItsOpeningSpreadByTheLimit(t *testing.T) {
	t.Parallel()
	open := nextMinute()
	// Kathmandu is UTC+05:45: the window's hours are not the UTC ones.
	day, from, to := windowFrom(t, "Asia/Kathmandu", open)
	accounts := filepath.Join(t.TempDir(), "accounts.json")
	if err := os.WriteFile(accounts, []byte(`{"accounts":[{"name":"night","provider":"mateo","token":"`+betaToken+`","window":"soon"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	const perSecond = 5
	e := setup(t, map[string]string{
		"RATE_LIMITS":   fmt.Sprintf("mateo=%d/s", perSecond),
		"SEND_WINDOWS":  fmt.Sprintf("soon=Asia/Kathmandu %s %s-%s", day, from, to),
		"ACCOUNTS_FILE": accounts,
	}, sandbox.Limit{Count: perSecond, Period: time.Second})

	// Due before the opening: their lateness is the window's.
	due := `,"process_at":"` + open.Add(-2*time.Second).Format(time.RFC3339Nano) + `"`
	send := func(account, window, text, extra string) string {
		if window != "" {
			extra += `,"window":` + window
		}
		return e.enqueue(t, `{"type":"mateo:send_message","account":"`+account+`"`+extra+`,"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"`+text+`"}}`)
	}
	var windowed []string
	for i := range 10 {
		windowed = append(windowed, send("acme", `"soon"`, fmt.Sprintf("named %d", i), due))
	}
	windowed = append(windowed,
		send("acme", fmt.Sprintf(`{"tz":"Asia/Kathmandu","days":"%s","from":"%s","to":"%s"}`, day, from, to), "spelled out", due),
		send("night", "", "the account's", due))
	expired := send("acme", `"soon"`, "expires first", `,"expires_at":"`+open.Add(-time.Second).Format(time.RFC3339Nano)+`"`)
	unknown := send("acme", `"late-night"`, "unknown window", "")
	control := send("acme", "", "no window", "")

	// The send without a window goes at once; those with one not before
	// the opening.
	e.waitState(t, control, "completed", 5*time.Second)
	if time.Now().Before(open) {
		if n := len(e.sandbox.Requests()); n != 1 {
			t.Errorf("%d requests before the window opened, want only the one without a window", n)
		}
	}
	e.archivedAfter(t, expired, len(e.sandbox.Requests()), "expired: its window opens at")
	e.archivedAfter(t, unknown, len(e.sandbox.Requests()), `"late-night": SEND_WINDOWS has no window of that name (it has soon)`)

	e.completedFirstTry(t, windowed, 90*time.Second)
	for _, r := range e.sandbox.Requests() {
		if r.Status == http.StatusTooManyRequests {
			t.Errorf("a 429 at %s: the sends released at the opening were not spread by the limit", r.At.Format(time.StampMilli))
		}
		// The sandbox's clock is read after the request arrived: a
		// millisecond of rounding is all a request may seem early by.
		if text := textOf(t, r); text != "no window" && r.At.Before(open.Add(-time.Millisecond)) {
			t.Errorf("%q arrived at %s, before its window opened at %s", text, r.At.Format(time.StampMilli), open.Format(time.StampMilli))
		}
	}
	if n := len(e.sandbox.Requests()); n != len(windowed)+1 {
		t.Errorf("%d requests, want %d", n, len(windowed)+1)
	}

	s, err := e.producer.Status(t.Context(), windowed[0])
	if err != nil {
		t.Fatal(err)
	}
	if s.Window != "soon" || !s.WindowAt.Equal(open) || !s.Due.Equal(open.Add(-2*time.Second)) {
		t.Errorf("status: window %q at %s, due %s; want soon at %s, due 2s before", s.Window, s.WindowAt, s.Due, open)
	}
	if s, err := e.producer.Status(t.Context(), windowed[len(windowed)-1]); err != nil || s.Window != "" || !s.WindowAt.Equal(open) {
		t.Errorf("status of the account's window: %+v (%v), want the opening %s", s, err, open)
	}

	_, metrics := get(t, "http://"+e.worker.HealthAddr()+"/metrics", "", "")
	m := regexp.MustCompile(`(?m)^punctual_send_lateness_seconds_count\{cause="window",provider="mateo"\} (\d+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("no lateness of cause window in the metrics")
	}
	if n, _ := strconv.Atoi(m[1]); n != len(windowed) {
		t.Errorf("%d sends late for their window, want %d", n, len(windowed))
	}
}

func TestAnAutoWindowWaitsForTheZoneOfEveryNumber(t *testing.T) {
	t.Parallel()
	// Kathmandu is 15 minutes ahead of Kolkata: a window from the next
	// minute's time in Kolkata is open in Kathmandu already.
	open := nextMinute()
	_, from, to := windowFrom(t, "Asia/Kolkata", open)
	e := setup(t, nil)
	window := `{"tz":"auto","from":"` + from + `","to":"` + to + `"}`
	send := func(text string, to ...string) string {
		handles, _ := json.Marshal(to)
		return e.enqueue(t, `{"type":"mateo:send_message","window":`+window+`,"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"`+text+`","to":[{"handle":`+string(handles)+`}]}}`)
	}
	nepal := send("Nepal", "+97714212345")
	both := send("Nepal and India", "+97714212345", "+919876543210")

	e.waitState(t, nepal, "completed", 5*time.Second)
	if time.Now().Before(open) && len(e.sandbox.Requests()) != 1 {
		t.Errorf("%d requests before the window opened in India, want only the one to Nepal", len(e.sandbox.Requests()))
	}
	e.completedFirstTry(t, []string{both}, 90*time.Second)
	for _, r := range e.sandbox.Requests() {
		if text := textOf(t, r); text == "Nepal and India" && r.At.Before(open.Add(-time.Millisecond)) {
			t.Errorf("the send to both arrived at %s, before the window opened in India at %s", r.At.Format(time.StampMilli), open.Format(time.StampMilli))
		}
	}
	if s, err := e.producer.Status(t.Context(), both); err != nil || !s.WindowAt.Equal(open) {
		t.Errorf("status %+v (%v), want the window's opening %s", s, err, open)
	}
}
