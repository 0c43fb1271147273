package pause_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/pause"
)

func TestForWaitsOrEndsWithItsContext(t *testing.T) {
	start := time.Now()
	if err := pause.For(context.Background(), 20*time.Millisecond); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Errorf("For(20ms) returned %v after %s", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pause.For(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("For on an ended context: %v, want context.Canceled", err)
	}
	if err := pause.For(ctx, -time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("For(negative) on an ended context: %v, want context.Canceled", err)
	}
	if err := pause.For(context.Background(), 0); err != nil {
		t.Errorf("For(0): %v", err)
	}
}
