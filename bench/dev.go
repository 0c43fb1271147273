package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// rowDevLinearity times `enqueue batch` of a small and a ten times larger
// file, default limits, against the embedded Redis of a `worker --dev`
// (miniredis): booking must not slow down as the calendar fills.
func rowDevLinearity(ctx context.Context, e *env) (Result, error) {
	small, large := e.scale.DevSmall, e.scale.DevLarge
	took := map[int]time.Duration{}
	for _, n := range []int{small, large} {
		d, err := devBatch(ctx, e, n)
		if err != nil {
			return Result{}, fmt.Errorf("%d lines: %w", n, err)
		}
		took[n] = d
	}
	ratio := took[large].Seconds() / took[small].Seconds()
	bound := 1.2 * float64(large) / float64(small)
	return Result{
		Measured: fmt.Sprintf("%s (%s lines)", took[large].Round(time.Millisecond), count(large)),
		Value:    fmt.Sprintf("%s at %s; ×%.1f", took[small].Round(time.Millisecond), count(small), ratio),
		Pass:     ratio <= bound,
		Notes: []string{fmt.Sprintf("the enqueue binary's batch --concurrency %d, RATE_LIMITS unset (the published limits), of %d and %d lines due now from %d Mateo accounts (each booking its slot), each into the embedded Redis of a fresh `worker --dev` binary; target ×%.0f (1.2 × the ratio of lines); one run each",
			enqueuers, small, large, bookingAccounts, bound)},
		Numbers: map[string]float64{"small_s": took[small].Seconds(), "large_s": took[large].Seconds(), "ratio": ratio},
	}, nil
}

// devBatch starts `worker --dev`, reads its embedded Redis's address from
// its banner, and times `enqueue batch` of n lines into it.
func devBatch(ctx context.Context, e *env, n int) (time.Duration, error) {
	worker, err := goBuild(ctx, e, "./cmd/worker")
	if err != nil {
		return 0, err
	}
	enqueue, path, err := enqueueFile(ctx, e, fmt.Sprintf("dev-%d.jsonl", n), n, spreadLine)
	defer os.Remove(path)
	if err != nil {
		return 0, err
	}
	environ := baseEnv()
	environ["LOG_LEVEL"] = "error"
	// The banner's line "  Redis           redis://127.0.0.1:PORT/0".
	p, url, err := startProc("worker --dev", worker, []string{"--dev"}, environ, func(line string) (string, bool) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "Redis" && strings.HasPrefix(f[1], "redis://") {
			return f[1], true
		}
		return "", false
	})
	if err != nil {
		return 0, err
	}
	rate, err := batchFile(ctx, enqueue, enqueueEnv(url, ""), path, n)
	if serr := p.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return 0, err
	}
	return time.Duration(float64(n) / rate * float64(time.Second)), nil
}
