// Package workertest runs a worker in a test as the worker binary runs
// one from its configuration, and stops it when the test ends.
package workertest

import (
	"context"
	"math"
	"testing"

	"github.com/redis/go-redis/v9"

	"go.uber.org/zap/zaptest"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/worker"
)

// Run starts a worker configured by cfg, logging to t, and returns it; it
// is stopped, and its Run's error reported, when the test ends.
func Run(t testing.TB, cfg *config.Config) *worker.Worker {
	t.Helper()
	wc, err := worker.ConfigFrom(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(wc, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	})
	return w
}

// Completed counts the sends made in queue by their records: asynq keeps
// no completed task (state.Completion).
func Completed(t testing.TB, c redis.UniversalClient, queue string) int {
	t.Helper()
	made, err := state.Store{Client: c}.Completed(context.Background(), queue, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	return len(made)
}
