package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	bin, path, err := enqueueFile(ctx, e, "batch.jsonl", n, func(i int) []byte { return envelope(mateoPayload(i, farFuture, payloadSize), "") })
	if err != nil {
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
		rate, err := batchFile(ctx, bin, enqueueEnv(r.url(), "off"), path, n)
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

// enqueueFile builds the enqueue binary and writes line(0) to line(n-1)
// to the file name in e.tmp, for the caller to remove.
func enqueueFile(ctx context.Context, e *env, name string, n int, line func(int) []byte) (bin, path string, err error) {
	if bin, err = goBuild(ctx, e, "./cmd/enqueue"); err != nil {
		return "", "", err
	}
	path = filepath.Join(e.tmp, name)
	return bin, path, writeLines(path, n, line)
}

// batchFile runs `enqueue batch` on the file at path, of n lines, with
// environ, and returns its rate, in lines a second, from start to exit.
func batchFile(ctx context.Context, bin string, environ map[string]string, path string, n int) (float64, error) {
	start := time.Now()
	_, out, err := runEnqueue(ctx, bin, environ, "batch", "--concurrency", strconv.Itoa(enqueuers), path)
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	if want := fmt.Sprintf("enqueued %d, duplicate 0, rejected 0;", n); !strings.HasPrefix(out, want) {
		return 0, fmt.Errorf("want %q, got %q", want, out)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// bookingAccounts is how many accounts the lines of spreadLine come from.
const bookingAccounts = 10

// spreadLine is Mateo send i, due now, from one of bookingAccounts
// accounts: a backlog, booked when it is enqueued, each line at the end of
// its account's chain of bookings (a send due later is booked by the
// worker when it falls due, and costs the batch nothing).
func spreadLine(i int) []byte {
	return fmt.Appendf(nil, `{"type":"mateo:send_message","account":"acct%d","payload":%s}`,
		i%bookingAccounts, mateoPayload(i, "", payloadSize))
}

// rowBatchLimits compares `enqueue batch` with the default limits
// (RATE_LIMITS unset: each line books its slot) and with RATE_LIMITS=off,
// on the same file, alternately twice each, each run on a fresh
// redis-server; each side's best rate counts.
func rowBatchLimits(ctx context.Context, e *env) (Result, error) {
	n := e.scale.BatchLimits
	bin, path, err := enqueueFile(ctx, e, "batch-limits.jsonl", n, spreadLine)
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(path)
	rates := map[string][]float64{}
	for range 2 {
		for _, limits := range []string{"", "off"} {
			r, err := startRedis(e)
			if err != nil {
				return Result{}, err
			}
			rate, err := batchFile(ctx, bin, enqueueEnv(r.url(), limits), path, n)
			r.stop()
			if err != nil {
				return Result{}, fmt.Errorf("RATE_LIMITS=%q: %w", limits, err)
			}
			rates[limits] = append(rates[limits], rate)
		}
	}
	on, off := slices.Max(rates[""]), slices.Max(rates["off"])
	return Result{
		Measured: fmt.Sprintf("%.0f/s", on),
		Bare:     "",
		Value:    fmt.Sprintf("%.2f × off (%.0f/s)", on/off, off),
		Pass:     on >= 0.6*off,
		Notes: []string{fmt.Sprintf("the enqueue binary's batch --concurrency %d on %d lines due now from %d Mateo accounts (a backlog: each line books its slot at the end of its account's chain), RATE_LIMITS unset (the published limits) and RATE_LIMITS=off, each run on a fresh redis-server; runs default %.0f, %.0f /s, off %.0f, %.0f /s (best counts)",
			enqueuers, n, bookingAccounts, rates[""][0], rates[""][1], rates["off"][0], rates["off"][1])},
		Numbers: map[string]float64{"default_per_s": on, "off_per_s": off, "ratio": on / off},
	}, nil
}
