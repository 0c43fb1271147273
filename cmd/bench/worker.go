package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
)

// rowWorker compares the send rate of our worker (concurrency 64, against
// the sandbox) with a bare asynq server (concurrency 64, no-op handler),
// each draining the same number of due-now tasks from the time it starts.
func rowWorker(ctx context.Context, e *env) (Result, error) {
	n := e.scale.Worker
	r, err := startRedis(e)
	if err != nil {
		return Result{}, err
	}
	defer r.stop()
	ins := asynq.NewInspector(r.conn)
	defer ins.Close()

	err = enqueueBare(ctx, r.conn, n, func(i int) []byte { return mateoPayload(i, "", payloadSize) })
	if err != nil {
		return Result{}, fmt.Errorf("bare: %w", err)
	}
	srv := asynq.NewServer(r.conn, asynq.Config{Concurrency: 64, LogLevel: asynq.ErrorLevel})
	bareFrom, err := r.usage(ctx)
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })); err != nil {
		return Result{}, fmt.Errorf("bare: %w", err)
	}
	err = waitFor(ctx, time.Minute, "bare asynq to process every task", func() (bool, error) {
		info, err := queueInfo(ins, "default")
		return err == nil && info.ProcessedTotal-info.FailedTotal >= n, err
	})
	bare := float64(n) / time.Since(start).Seconds()
	bareTo, uerr := r.usage(ctx)
	srv.Shutdown()
	if err = cmp.Or(err, uerr); err != nil {
		return Result{}, fmt.Errorf("bare: %w", err)
	}

	if err := r.flush(ctx); err != nil {
		return Result{}, err
	}
	if err := enqueueOurs(ctx, r.conn, n, func(i int) []byte { return envelope(mateoPayload(i, "", payloadSize), "") }); err != nil {
		return Result{}, fmt.Errorf("ours: %w", err)
	}
	prov := startProvider()
	defer prov.close()
	oursFrom, err := r.usage(ctx)
	if err != nil {
		return Result{}, err
	}
	start = time.Now()
	w, err := startWorker(workerEnv(r, prov, 64), nil)
	if err != nil {
		return Result{}, err
	}
	err = waitCompleted(ctx, time.Minute, ins, "mateo", n, w.exited)
	ours := float64(n) / time.Since(start).Seconds()
	oursTo, uerr := r.usage(ctx)
	if err = cmp.Or(err, uerr, w.stop()); err != nil {
		return Result{}, fmt.Errorf("ours: %w", err)
	}
	return Result{
		Measured: fmt.Sprintf("%.0f/s", ours),
		Bare:     fmt.Sprintf("%.0f/s", bare),
		Value:    fmt.Sprintf("%.2f", ours/bare),
		Pass:     ours >= 0.8*bare,
		Notes: []string{
			fmt.Sprintf("%d due-now tasks of %d-byte bodies; ours sends each to the in-process sandbox (%d requests), bare runs a no-op handler",
				n, payloadSize, prov.count.Load()),
			"per task, ours: " + perTask(oursFrom, oursTo, n) + " (worker and sandbox)",
			"per task, bare: " + perTask(bareFrom, bareTo, n),
		},
		Numbers: map[string]float64{"ours_per_s": ours, "bare_per_s": bare, "ratio": ours / bare},
	}, nil
}

// lateness is what one side of the scheduled row saw.
type lateness struct {
	early, missing, extra int
	p50, p99, max         time.Duration
}

func (l lateness) String() string {
	s := fmt.Sprintf("%d early, p99 %s", l.early, ms(l.p99))
	if l.missing > 0 {
		s += fmt.Sprintf(", %d missing", l.missing)
	}
	return s
}

// measureLateness sums up the lateness of each send (arrival minus due);
// arrivals beyond one per due time are counted extra.
func measureLateness(due []time.Time, late map[int]time.Duration, extra int) lateness {
	l := lateness{missing: len(due) - len(late), extra: extra}
	all := make([]time.Duration, 0, len(late))
	for _, d := range late {
		if d < 0 {
			l.early++
		}
		all = append(all, d)
	}
	if len(all) == 0 {
		return l
	}
	slices.Sort(all)
	l.p50 = all[len(all)/2]
	l.p99 = all[int(math.Ceil(0.99*float64(len(all))))-1]
	l.max = all[len(all)-1]
	return l
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// dueTimes returns n due times at random milliseconds over spread from
// start.
func dueTimes(n int, start time.Time, spread time.Duration) []time.Time {
	due := make([]time.Time, n)
	for i := range due {
		due[i] = start.Add(time.Duration(rand.Int64N(spread.Milliseconds())) * time.Millisecond)
	}
	return due
}

// rowScheduled measures how early and how late scheduled sends arrive at
// the sandbox, due at random milliseconds over the spread starting 3 s after
// their enqueueing ends; bare asynq (default server, due times on
// asynq.ProcessAt) is measured the same way for reference.
func rowScheduled(ctx context.Context, e *env) (Result, error) {
	n, spread := e.scale.Scheduled, e.scale.ScheduledSpread
	r, err := startRedis(e)
	if err != nil {
		return Result{}, err
	}
	defer r.stop()

	ours, oursGap, err := scheduledOurs(ctx, r, n, spread)
	if err != nil {
		return Result{}, fmt.Errorf("ours: %w", err)
	}
	if err := r.flush(ctx); err != nil {
		return Result{}, err
	}
	bare, bareGap, err := scheduledBare(ctx, r, n, spread)
	if err != nil {
		return Result{}, fmt.Errorf("bare: %w", err)
	}
	notes := []string{
		fmt.Sprintf("%d Mateo sends due over %s, from %s (ours) and %s (bare) after enqueueing ended", n, spread, oursGap.Round(time.Millisecond), bareGap.Round(time.Millisecond)),
		fmt.Sprintf("lateness ours p50 %s, max %s; bare p50 %s, max %s", ms(ours.p50), ms(ours.max), ms(bare.p50), ms(bare.max)),
	}
	if ours.extra > 0 || ours.missing > 0 {
		notes = append(notes, fmt.Sprintf("ours: %d requests missing, %d extra (a send made twice)", ours.missing, ours.extra))
	}
	if oursGap < 3*time.Second {
		notes = append(notes, "enqueueing took longer than planned: the first sends were due less than 3 s after it ended")
	}
	return Result{
		Measured: ours.String(),
		Bare:     bare.String(),
		Value:    fmt.Sprintf("%d early / p99 %s", ours.early, ms(ours.p99)),
		Pass:     ours.early == 0 && ours.missing == 0 && ours.extra == 0 && ours.p99 <= 100*time.Millisecond,
		Notes:    notes,
		Numbers: map[string]float64{
			"ours_early": float64(ours.early), "ours_p99_ms": ours.p99.Seconds() * 1000, "ours_missing": float64(ours.missing),
			"bare_early": float64(bare.early), "bare_p99_ms": bare.p99.Seconds() * 1000,
		},
	}, nil
}

// enqueueBudget is the time planned for enqueueing n scheduled sends: the
// first is due 3 s after it.
func enqueueBudget(n int) time.Duration {
	return time.Second + time.Duration(n)*200*time.Microsecond
}

// scheduledOurs runs the scheduled sends through our producer and worker;
// gap is how long after the enqueueing ended the due times begin.
func scheduledOurs(ctx context.Context, r *redisServer, n int, spread time.Duration) (l lateness, gap time.Duration, err error) {
	prov := startProvider()
	defer prov.close()
	w, err := startWorker(workerEnv(r, prov, 64), nil)
	if err != nil {
		return l, 0, err
	}
	defer func() {
		if serr := w.stop(); err == nil {
			err = serr
		}
	}()
	start := time.Now().Add(enqueueBudget(n) + 3*time.Second).Truncate(time.Millisecond)
	due := dueTimes(n, start, spread)
	err = enqueueOurs(ctx, r.conn, n, func(i int) []byte {
		return envelope(mateoPayload(i, "", payloadSize), due[i].UTC().Format(time.RFC3339Nano))
	})
	if err != nil {
		return l, 0, err
	}
	gap = time.Until(start)
	err = waitFor(ctx, time.Until(start)+spread+30*time.Second, "every scheduled send", func() (bool, error) {
		return prov.count.Load() >= int64(n), w.exited()
	})
	if err != nil {
		return l, gap, err
	}
	late, extra := map[int]time.Duration{}, 0
	for _, req := range prov.sb.Requests() {
		i, ok := textIndex(req.Body)
		if !ok || i >= n {
			return l, gap, fmt.Errorf("a request the bench did not send: %.100s", req.Body)
		}
		if _, seen := late[i]; seen {
			extra++
			continue
		}
		late[i] = req.At.Sub(due[i])
	}
	return measureLateness(due, late, extra), gap, nil
}

// scheduledBare runs the scheduled sends through bare asynq: a server with
// the default configuration, whose handler notes the time against the due
// time in the payload.
func scheduledBare(ctx context.Context, r *redisServer, n int, spread time.Duration) (lateness, time.Duration, error) {
	var (
		mu    sync.Mutex
		late  = map[int]time.Duration{}
		extra int
	)
	srv := asynq.NewServer(r.conn, asynq.Config{LogLevel: asynq.ErrorLevel})
	err := srv.Start(asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error {
		now := time.Now()
		var body struct {
			Text      string    `json:"text"`
			SendAfter time.Time `json:"send_after"`
		}
		if err := json.Unmarshal(t.Payload(), &body); err != nil {
			return err
		}
		i, _ := textIndex([]byte(body.Text))
		mu.Lock()
		defer mu.Unlock()
		if _, seen := late[i]; seen {
			extra++
		} else {
			late[i] = now.Sub(body.SendAfter)
		}
		return nil
	}))
	if err != nil {
		return lateness{}, 0, err
	}
	defer srv.Shutdown()
	start := time.Now().Add(enqueueBudget(n) + 3*time.Second).Truncate(time.Millisecond)
	due := dueTimes(n, start, spread)
	err = enqueueBareAt(ctx, r.conn, due)
	if err != nil {
		return lateness{}, 0, err
	}
	gap := time.Until(start)
	err = waitFor(ctx, time.Until(start)+spread+30*time.Second, "every scheduled task", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(late) >= n, nil
	})
	if err != nil {
		return lateness{}, gap, err
	}
	mu.Lock()
	defer mu.Unlock()
	return measureLateness(due, late, extra), gap, nil
}

// enqueueBareAt enqueues a bare task due at each time, its payload a Mateo
// body whose send_after is the due time.
func enqueueBareAt(ctx context.Context, conn asynq.RedisConnOpt, due []time.Time) error {
	c := asynq.NewClient(conn)
	defer c.Close()
	return parallel(ctx, len(due), enqueuers, func(ctx context.Context, i int) error {
		payload := mateoPayload(i, due[i].UTC().Format(time.RFC3339Nano), payloadSize)
		_, err := c.EnqueueContext(ctx, asynq.NewTask("bench:send", payload), asynq.ProcessAt(due[i]))
		return err
	})
}

// rowWorkerMemory measures the peak RSS of the worker binary at
// concurrency 256 while it sends due-now tasks to the sandbox.
func rowWorkerMemory(ctx context.Context, e *env) (Result, error) {
	n := e.scale.WorkerMemory
	bin, err := goBuild(ctx, e, "./cmd/worker")
	if err != nil {
		return Result{}, err
	}
	r, err := startRedis(e)
	if err != nil {
		return Result{}, err
	}
	defer r.stop()
	if err := enqueueOurs(ctx, r.conn, n, func(i int) []byte { return envelope(mateoPayload(i, "", payloadSize), "") }); err != nil {
		return Result{}, err
	}
	prov := startProvider()
	defer prov.close()

	cmd, err := launchCommand(bin)
	if err != nil {
		return Result{}, err
	}
	for k, v := range workerEnv(r, prov, 256) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &limitWriter{w: &stderr, n: 4096}
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ins := asynq.NewInspector(r.conn)
	defer ins.Close()
	err = waitCompleted(ctx, time.Minute, ins, "mateo", n, func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("the worker exited: %v: %s", err, stderr.String())
		default:
			return nil
		}
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case werr := <-exited:
		if err == nil && werr != nil {
			err = fmt.Errorf("the worker's exit on SIGTERM: %v: %s", werr, stderr.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		if err == nil {
			err = errors.New("the worker did not stop within 15 s of SIGTERM")
		}
	}
	if err != nil {
		return Result{}, err
	}
	rss, err := cmd.peakRSS()
	if err != nil {
		return Result{}, err
	}
	floor, err := rssFloor()
	if err != nil {
		return Result{}, err
	}
	mib := float64(rss) / (1 << 20)
	return Result{
		Measured: fmt.Sprintf("%.1f MiB", mib),
		Value:    fmt.Sprintf("%.1f MiB", mib),
		Pass:     mib <= 150,
		Notes: []string{fmt.Sprintf("worker binary at WORKER_CONCURRENCY=256 sending %d due-now tasks to the sandbox; rusage Maxrss (floor %.1f MiB: the launcher's)",
			n, float64(floor)/(1<<20))},
		Numbers: map[string]float64{"peak_rss_mib": mib},
	}, nil
}

// limitWriter keeps the first n bytes written to it.
type limitWriter struct {
	mu sync.Mutex
	w  *strings.Builder
	n  int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
