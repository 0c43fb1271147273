// Package pause waits for a while in a way a context can end early.
package pause

import (
	"context"
	"time"
)

// For waits for d or until ctx ends, and returns ctx's error if it ended
// first; a d of zero or less only checks ctx.
func For(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
