package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
)

// rowRedisMemory compares the Redis memory of scheduled sends of 364-byte
// bodies with bare asynq tasks of the same payloads.
func rowRedisMemory(ctx context.Context, e *env) (Result, error) {
	return redisMemory(ctx, e, e.scale.RedisMemory, 1.0, func(i int) []byte { return mateoPayload(i, farFuture, payloadSize) })
}

// rowRedisMemoryHTML is rowRedisMemory with 20 KB HTML email bodies.
func rowRedisMemoryHTML(ctx context.Context, e *env) (Result, error) {
	return redisMemory(ctx, e, e.scale.RedisMemoryHTML, 0.3, htmlPayload)
}

// redisMemory measures used_memory before and after enqueueing n sends of
// payload(i), due in 2030, for bare asynq (the payload as its task
// payload) and for ours (the payload in an envelope); the target is ours ≤
// target × bare.
func redisMemory(ctx context.Context, e *env, n int, target float64, payload func(int) []byte) (Result, error) {
	r, err := startRedis(e)
	if err != nil {
		return Result{}, err
	}
	defer r.stop()
	due, _ := time.Parse(time.RFC3339, farFuture)
	bare, err := bytesPerSend(ctx, r, n, func() error {
		return enqueueBare(ctx, r.conn, n, payload, asynq.ProcessAt(due))
	})
	if err != nil {
		return Result{}, fmt.Errorf("bare: %w", err)
	}
	ours, err := bytesPerSend(ctx, r, n, func() error {
		return enqueueOurs(ctx, r.conn, n, func(i int) []byte { return envelope(payload(i), "") })
	})
	if err != nil {
		return Result{}, fmt.Errorf("ours: %w", err)
	}
	size := 0
	for i := range min(n, 100) {
		size += len(payload(i))
	}
	return Result{
		Measured: fmt.Sprintf("%.0f B", ours),
		Bare:     fmt.Sprintf("%.0f B", bare),
		Value:    fmt.Sprintf("%.2f", ours/bare),
		Pass:     ours <= target*bare,
		Notes: []string{fmt.Sprintf("%d sends due in 2030, Mateo bodies of %d bytes on average; INFO used_memory after minus before, over %d",
			n, size/min(n, 100), n)},
		Numbers: map[string]float64{"ours_bytes": ours, "bare_bytes": bare, "ratio": ours / bare},
	}, nil
}

// rowRedisRetained measures the Redis memory a completed send keeps: ours
// keeps a record of it for RESULT_RETENTION, plain asynq with no retention
// deletes its task.
func rowRedisRetained(ctx context.Context, e *env) (Result, error) {
	n := e.scale.Retained
	ours, err := oursSide.retained(ctx, e, n)
	if err != nil {
		return Result{}, fmt.Errorf("ours: %w", err)
	}
	ref, err := referenceSide.retained(ctx, e, n)
	if err != nil {
		return Result{}, fmt.Errorf("reference: %w", err)
	}
	return Result{
		Measured: fmt.Sprintf("%.0f B", ours),
		Bare:     fmt.Sprintf("%.0f B", ref),
		Value:    fmt.Sprintf("%.0f B", ours),
		Pass:     ours <= 500,
		Notes: []string{fmt.Sprintf("%d due-now Mateo sends of %d-byte bodies, drained at concurrency 64, RATE_LIMITS=off; ours envelopes with an explicit key, "+
			"the most a send keeps (a keyed send has a claim, which its record replaces), through the worker binary; the reference plain asynq tasks of the same payloads, no retention, through its worker; "+
			"each on a fresh redis-server against its own sandbox binary; INFO used_memory once the sends are done and the worker has exited, minus before the enqueueing, over %d "+
			"(what a run keeps once, asynq's queue names and counters and the scripts' cache, is spread over them; Redis's latency tracking off, its histogram of each command name being a one-off cost too)", n, payloadSize, n)},
		Numbers: map[string]float64{"ours_bytes": ours, "reference_bytes": ref},
	}, nil
}

// retained returns the growth of Redis's memory over n, from before the
// side enqueues n due-now sends (keyed on our side) to after its worker
// (concurrency 64, RATE_LIMITS=off) has sent them and exited.
func (s side) retained(ctx context.Context, e *env, n int) (float64, error) {
	r, err := startRedis(e)
	if err != nil {
		return 0, err
	}
	defer r.stop()
	sb, err := startStandIn(ctx, e, standInOptions{})
	if err != nil {
		return 0, err
	}
	defer sb.stop()
	environ := mateoEnv(r, sb, 64)
	environ["RATE_LIMITS"] = "off"
	// Redis 7 keeps a latency histogram for each command name it has run,
	// about 30 KB each: a run's one-off cost, which at 2,000 sends weighed
	// 270 B a send. Redis 6 has none, nor the setting: its error is moot.
	_ = r.rdb.ConfigSet(ctx, "latency-tracking", "no").Err()
	return bytesPerSend(ctx, r, n, func() error {
		if err := s.enqueue(ctx, r, n, nil, true); err != nil {
			return err
		}
		p, err := s.start(ctx, e, environ)
		if err != nil {
			return err
		}
		defer p.stop()
		if _, err := s.waitDone(ctx, 2*time.Minute, r, p, n); err != nil {
			return err
		}
		return p.stop()
	})
}

// bytesPerSend empties Redis, runs fill (whose connections are closed when
// it returns), and returns the growth of used_memory over n.
func bytesPerSend(ctx context.Context, r *redisServer, n int, fill func() error) (float64, error) {
	if err := r.flush(ctx); err != nil {
		return 0, err
	}
	before, err := r.usedMemory(ctx)
	if err != nil {
		return 0, err
	}
	if err := fill(); err != nil {
		return 0, err
	}
	time.Sleep(200 * time.Millisecond) // for Redis to let go of the closed connections
	after, err := r.usedMemory(ctx)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(n), nil
}

// rowCLIMemory compares the peak RSS of `enqueue batch` on a small and a
// ten times larger file: streaming keeps it flat.
func rowCLIMemory(ctx context.Context, e *env) (Result, error) {
	small, large := e.scale.CLISmall, e.scale.CLILarge
	bin, err := goBuild(ctx, e, "./cmd/enqueue")
	if err != nil {
		return Result{}, err
	}
	r, err := startRedis(e)
	if err != nil {
		return Result{}, err
	}
	defer r.stop()
	peaks := map[int]float64{}
	var notes []string
	for _, n := range []int{small, large} {
		path := filepath.Join(e.tmp, fmt.Sprintf("cli-%d.jsonl", n))
		if err := writeLines(path, n, func(i int) []byte { return envelope(mateoPayload(i, farFuture, payloadSize), "") }); err != nil {
			return Result{}, err
		}
		if err := r.flush(ctx); err != nil {
			return Result{}, err
		}
		start := time.Now()
		rss, out, err := runEnqueue(ctx, bin, enqueueEnv(r.url(), "off"), "batch", path)
		os.Remove(path)
		if err != nil {
			return Result{}, fmt.Errorf("%d lines: %w", n, err)
		}
		peaks[n] = float64(rss) / (1 << 20)
		notes = append(notes, fmt.Sprintf("%d lines: peak %.1f MiB in %s (%s)", n, peaks[n], time.Since(start).Round(100*time.Millisecond), out))
	}
	ps, pl := peaks[small], peaks[large]
	return Result{
		Measured: fmt.Sprintf("%.1f MiB (%s lines)", pl, count(large)),
		Bare:     "",
		Value:    fmt.Sprintf("%.1f MiB at %s; ×%.2f", ps, count(small), pl/ps),
		Pass:     pl <= 1.2*ps+8,
		Notes:    notes,
		Numbers:  map[string]float64{"small_peak_mib": ps, "large_peak_mib": pl, "ratio": pl / ps},
	}, nil
}

// enqueueEnv is the environment of the enqueue binary on the Redis at
// redisURL with RATE_LIMITS limits; unset, the default limits, when "".
func enqueueEnv(redisURL, limits string) map[string]string {
	env := map[string]string{"REDIS_URL": redisURL}
	if limits != "" {
		env["RATE_LIMITS"] = limits
	}
	return env
}

// runEnqueue runs `enqueue args...` with exactly the environment environ,
// and returns its peak RSS in bytes and its output.
func runEnqueue(ctx context.Context, bin string, environ map[string]string, args ...string) (int64, string, error) {
	cmd, err := launchCommand(bin, args...)
	if err != nil {
		return 0, "", err
	}
	cmd.Env = envList(environ)
	var out strings.Builder
	cmd.Stdout = &limitWriter{w: &out, n: 4096}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return 0, "", err
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Signal(syscall.SIGTERM) })
	defer stop()
	if err := cmd.Wait(); err != nil {
		return 0, "", fmt.Errorf("%w: %s", err, out.String())
	}
	rss, err := cmd.peakRSS()
	return rss, strings.TrimSpace(out.String()), err
}

// count writes 100000 as 100k and 1000000 as 1M.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
