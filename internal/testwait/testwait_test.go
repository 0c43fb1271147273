package testwait_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/testwait"
)

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	testwait.For(t, 5*time.Second, "three polls", func() bool { return n.Add(1) == 3 })
	if n.Load() != 3 {
		t.Errorf("polled %d times, want 3", n.Load())
	}
}

// failing records a Fatalf instead of ending the test.
type failing struct {
	testing.TB
	msg string
}

func (f *failing) Helper() {}

func (f *failing) Fatalf(format string, args ...any) {
	f.msg = format
	panic(f)
}

func TestForFailsAtItsDeadline(t *testing.T) {
	f := &failing{TB: t}
	start := time.Now()
	func() {
		defer func() {
			if r := recover(); r != f {
				t.Errorf("recovered %v, want the test failed", r)
			}
		}()
		testwait.For(f, 50*time.Millisecond, "ever", func() bool { return false })
	}()
	if f.msg == "" || time.Since(start) < 50*time.Millisecond {
		t.Errorf("failed %q after %s, want a failure after 50ms", f.msg, time.Since(start))
	}
}
