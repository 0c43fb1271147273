package logging_test

import (
	"context"
	stdlog "log"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/punctualhq/punctual/logging"
)

// asynq writes a line with the standard library's log package when it
// wraps an error it does not expect, and go-redis through its own logger:
// both must come out of the binary's logger, in its format, and repeat at
// most once per logging.Repeats.
func TestDependenciesLogThroughZapOncePerMessage(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	redisLog, restore := logging.Dependencies(zap.New(core))
	defer restore()
	for range 3 {
		stdlog.Printf("errors.E: bad call from %s", "rdb.go:42")
		redisLog.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts", 5)
	}
	got := map[string]int{}
	for _, e := range logs.All() {
		got[e.LoggerName+": "+e.Message]++
	}
	want := map[string]int{
		"stdlog: errors.E: bad call from rdb.go:42":                      1,
		"redis: redis: connection pool: failed to dial after 5 attempts": 1,
	}
	for line, n := range want {
		if got[line] != n {
			t.Errorf("%q logged %d times, want %d; all: %v", line, got[line], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("logged %v, want %v", got, want)
	}
}

// While muted (Redis is down and the worker has said so), asynq's warnings
// and errors are debug lines; otherwise they keep their level.
func TestAsynqComplaintsAreDebugWhileMuted(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.DebugLevel)
	muted := true
	a := logging.Asynq{L: zap.New(core).Sugar(), Muted: func() bool { return muted }}
	a.Error("Dequeue error: dial tcp: connection refused")
	a.Warn("recoverer: could not list lease expired tasks")
	muted = false
	a.Error("Failed to forward scheduled tasks")
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Level.String()+": "+e.Message)
	}
	want := []string{"debug: Dequeue error: dial tcp: connection refused", "debug: recoverer: could not list lease expired tasks", "error: Failed to forward scheduled tasks"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged %q, want %q", got, want)
	}
}
