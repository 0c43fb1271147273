// Package testwait is how tests wait: for a condition, polled until a
// deadline, never for a fixed time, so that a test holds on two busy
// cores as it does alone.
package testwait

import (
	"testing"
	"time"
)

// For polls cond until it holds, and fails t, saying "not what within d",
// when it has not held within d.
func For(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
