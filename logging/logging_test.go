package logging_test

import (
	"context"
	stdlog "log"
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
