package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// rowBatch compares `enqueue batch` (the binary, rate limits off) on a
// JSON Lines file with bare asynq Client.Enqueue, both 16 at once,
// alternately twice each on an emptied Redis; each side's best rate
// counts.
func rowBatch(ctx context.Context, e *env) (Result, error) {
	n := e.scale.Batch
	bin, err := goBuild(ctx, e, "./cmd/enqueue")
	if err != nil {
		return Result{}, err
	}
	path := filepath.Join(e.tmp, "batch.jsonl")
	if err := writeLines(path, n, func(i int) []byte { return envelope(mateoPayload(i, farFuture, payloadSize), "") }); err != nil {
		return Result{}, err
	}
	defer os.Remove(path)
	r, err := startRedis(e)
	if err != nil {
		return Result{}, err
	}
	defer r.stop()

	due, _ := time.Parse(time.RFC3339, farFuture)
	var bare, ours []float64
	for range 2 {
		if err := r.flush(ctx); err != nil {
			return Result{}, err
		}
		start := time.Now()
		err := enqueueBare(ctx, r.conn, n, func(i int) []byte { return mateoPayload(i, farFuture, payloadSize) }, asynq.ProcessAt(due))
		if err != nil {
			return Result{}, fmt.Errorf("bare: %w", err)
		}
		bare = append(bare, float64(n)/time.Since(start).Seconds())

		if err := r.flush(ctx); err != nil {
			return Result{}, err
		}
		rate, err := batchFile(ctx, bin, r, path, n)
		if err != nil {
			return Result{}, fmt.Errorf("ours: %w", err)
		}
		ours = append(ours, rate)
	}
	b, o := max(bare[0], bare[1]), max(ours[0], ours[1])
	return Result{
		Measured: fmt.Sprintf("%.0f/s", o),
		Bare:     fmt.Sprintf("%.0f/s", b),
		Value:    fmt.Sprintf("%.2f", o/b),
		Pass:     o >= 0.9*b,
		Notes: []string{fmt.Sprintf("%d sends of %d-byte Mateo bodies due in 2030, the enqueue binary with RATE_LIMITS=off; runs ours %.0f, %.0f /s, bare %.0f, %.0f /s (best counts)",
			n, payloadSize, ours[0], ours[1], bare[0], bare[1])},
		Numbers: map[string]float64{"ours_per_s": o, "bare_per_s": b, "ratio": o / b},
	}, nil
}

// batchFile runs `enqueue batch` on the file at path and returns its
// rate, in lines a second, from start to exit.
func batchFile(ctx context.Context, bin string, r *redisServer, path string, n int) (float64, error) {
	start := time.Now()
	_, out, err := runEnqueue(ctx, bin, r, "batch", "--concurrency", strconv.Itoa(enqueuers), path)
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	if want := fmt.Sprintf("enqueued %d, duplicate 0, rejected 0;", n); !strings.HasPrefix(out, want) {
		return 0, fmt.Errorf("want %q, got %q", want, out)
	}
	return float64(n) / elapsed.Seconds(), nil
}
