package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
)

// side is one side of a comparison: our worker binary, or the reference
// (plain asynq with an HTTP handler, in its own process too).
type side struct {
	ours bool
}

var (
	oursSide      = side{ours: true}
	referenceSide = side{}
)

func (s side) String() string {
	if s.ours {
		return "ours"
	}
	return "reference"
}

// start starts the side's worker process with environ.
func (s side) start(ctx context.Context, e *env, environ map[string]string) (*proc, error) {
	if s.ours {
		return startOurs(ctx, e, environ)
	}
	return startReference(environ)
}

// enqueue enqueues n Mateo sends payload(i), due at due(i) when due is not
// nil: ours through the producer (limits off, as RATE_LIMITS=off), keyed
// "bench-i" when keyed, the reference with asynq's Client and ProcessAt.
func (s side) enqueue(ctx context.Context, r *redisServer, n int, due []time.Time, keyed bool) error {
	at := func(i int) string {
		if due == nil {
			return ""
		}
		return due[i].UTC().Format(time.RFC3339Nano)
	}
	if s.ours {
		return enqueueOurs(ctx, r.conn, n, func(i int) []byte {
			line := envelope(mateoPayload(i, "", payloadSize), at(i))
			if keyed {
				line = withKey(line, fmt.Sprintf("bench-%d", i))
			}
			return line
		})
	}
	c := asynq.NewClient(r.conn)
	defer c.Close()
	return parallel(ctx, n, enqueuers, func(ctx context.Context, i int) error {
		var opts []asynq.Option
		if due != nil {
			opts = append(opts, asynq.ProcessAt(due[i]))
		}
		_, err := c.EnqueueContext(ctx, asynq.NewTask("bench:send", mateoPayload(i, "", payloadSize)), opts...)
		return err
	})
}

// queue is the queue the side's sends go to.
func (s side) queue() string {
	if s.ours {
		return "mateo"
	}
	return referenceQueue
}

// waitDone waits, at most within, until the side's worker p has finished
// n sends, and returns the Redis commands it spent asking.
func (s side) waitDone(ctx context.Context, within time.Duration, r *redisServer, p *proc, n int) (int, error) {
	return waitSent(ctx, within, r, s.queue(), n, p.exited)
}

// drained is how one side drained its sends.
type drained struct {
	rate     float64 // sends a second, from its start to the last receipt
	commands float64 // Redis commands per send
	redisCPU float64 // redis-server's CPU time per send, in µs
	// stats are commandstats' lines per send, the bench's own left out.
	stats map[string]cmdStat
	// scripts are the scripts SLOWLOG saw run, by "evalsha <sha>" or
	// "eval <sha>", the µs it timed them at and the sources an EVAL
	// showed, when the run was logged.
	scripts    map[string]int
	sources    map[string]string
	scriptUsec map[string]float64
}

// drain enqueues n due-now Mateo sends on a fresh redis-server, then
// starts the side's worker (concurrency 64, RATE_LIMITS=off) against a
// fresh stand-in and times it from its start to the stand-in's receipt of
// the last send. A logged drain has Redis log every command in its
// SLOWLOG, which slows it: its rate and CPU are not the side's.
func (s side) drain(ctx context.Context, e *env, n int, logged bool) (d drained, err error) {
	r, err := startRedis(e)
	if err != nil {
		return d, err
	}
	defer r.stop()
	sb, err := startStandIn(ctx, e, standInOptions{})
	if err != nil {
		return d, err
	}
	defer sb.stop()
	if err := s.enqueue(ctx, r, n, nil, false); err != nil {
		return d, err
	}
	environ := mateoEnv(r, sb, 64)
	environ["RATE_LIMITS"] = "off"
	if s.ours { // built before the clock starts: the build is no part of the rate
		if _, err := goBuild(ctx, e, "./cmd/worker"); err != nil {
			return d, err
		}
	}
	from, err := r.usage(ctx)
	if err != nil {
		return d, err
	}
	if logged {
		if err := startSlowlog(ctx, r); err != nil {
			return d, err
		}
	}
	start := time.Now()
	p, err := s.start(ctx, e, environ)
	if err != nil {
		return d, err
	}
	defer p.stop()
	asked, err := s.waitDone(ctx, 2*time.Minute, r, p, n)
	if err != nil {
		return d, err
	}
	to, err := r.usage(ctx)
	if err = cmp.Or(err, p.stop()); err != nil {
		return d, err
	}
	if logged {
		if d.scripts, d.scriptUsec, d.sources, err = slowlogScripts(ctx, r); err != nil {
			return d, err
		}
	}
	if d.rate, err = drainRate(sb, n, start); err != nil {
		return d, err
	}
	d.commands = float64(to.commands-from.commands-int64(asked)) / float64(n)
	d.redisCPU = float64((to.redisCPU - from.redisCPU).Microseconds()) / float64(n)
	// The bench's own polling: GETs of asynq's counters, on both sides.
	if st, ok := to.stats["get"]; ok {
		st.calls -= float64(asked)
		to.stats["get"] = st
	}
	d.stats = perSend(from.stats, to.stats, n)
	return d, nil
}

// rowWorker compares the send rate of our worker binary with the
// reference's, each draining its own due-now sends from its start.
func rowWorker(ctx context.Context, e *env) (Result, error) {
	n := e.scale.Worker
	// Two runs of each side, alternating, and the best of each counts: a
	// run is a few seconds of two busy cores, which another process can
	// slow by a tenth.
	var ours, ref drained
	var oursRates, refRates []string
	for range 2 {
		r, err := referenceSide.drain(ctx, e, n, false)
		if err != nil {
			return Result{}, fmt.Errorf("reference: %w", err)
		}
		o, err := oursSide.drain(ctx, e, n, false)
		if err != nil {
			return Result{}, fmt.Errorf("ours: %w", err)
		}
		e.drains[referenceSide] = append(e.drains[referenceSide], r)
		e.drains[oursSide] = append(e.drains[oursSide], o)
		refRates, oursRates = append(refRates, fmt.Sprintf("%.0f", r.rate)), append(oursRates, fmt.Sprintf("%.0f", o.rate))
		if r.rate > ref.rate {
			ref = r
		}
		if o.rate > ours.rate {
			ours = o
		}
	}
	return Result{
		Measured: fmt.Sprintf("%.0f/s, %.1f cmds", ours.rate, ours.commands),
		Bare:     fmt.Sprintf("%.0f/s, %.1f cmds", ref.rate, ref.commands),
		Value:    fmt.Sprintf("%.2f", ours.rate/ref.rate),
		Pass:     ours.rate >= 0.8*ref.rate,
		Notes: []string{
			fmt.Sprintf("%d due-now Mateo sends of %d-byte bodies, concurrency 64, RATE_LIMITS=off; ours is the worker binary, the reference plain asynq in its own process posting the same request with net/http; "+
				"each on a fresh redis-server against its own sandbox binary (schemas checked, requests logged); rate = sends over the time from starting the worker to the sandbox's receipt of the last one; "+
				"runs ours %s /s, reference %s /s, alternating (best counts)",
				n, payloadSize, strings.Join(oursRates, ", "), strings.Join(refRates, ", ")),
			fmt.Sprintf("per send, Redis commands (INFO commandstats, less the bench's own) ours %.1f, reference %.1f; redis-server CPU ours %.0fµs, reference %.0fµs",
				ours.commands, ref.commands, ours.redisCPU, ref.redisCPU),
		},
		Numbers: map[string]float64{"ours_per_s": ours.rate, "reference_per_s": ref.rate, "ratio": ours.rate / ref.rate,
			"ours_commands_per_send": ours.commands, "reference_commands_per_send": ref.commands},
	}, nil
}

// dueTimes returns n due times at random milliseconds over spread from
// start.
func dueTimes(n int, start time.Time, spread time.Duration) []time.Time {
	due := make([]time.Time, n)
	for i := range due {
		due[i] = start.Add(time.Duration(rand.Int64N(spread.Milliseconds())) * time.Millisecond)
	}
	return due
}

// enqueueBudget is the time planned for enqueueing n scheduled sends: the
// first is due 3 s after it.
func enqueueBudget(n int) time.Duration {
	return time.Second + time.Duration(n)*200*time.Microsecond
}

// scheduled runs n sends due over spread through the side's worker
// (concurrency 64, RATE_LIMITS=off), started and registered before they
// are enqueued, and judges their receipt at the stand-in against their due
// times; gap is how long after the enqueueing ended the first was due.
func (s side) scheduled(ctx context.Context, e *env, n int, spread time.Duration) (l lateness, gap time.Duration, err error) {
	r, err := startRedis(e)
	if err != nil {
		return l, 0, err
	}
	defer r.stop()
	sb, err := startStandIn(ctx, e, standInOptions{})
	if err != nil {
		return l, 0, err
	}
	defer sb.stop()
	environ := mateoEnv(r, sb, 64)
	environ["RATE_LIMITS"] = "off"
	p, err := s.start(ctx, e, environ)
	if err != nil {
		return l, 0, err
	}
	defer p.stop()
	if err := waitReady(ctx, r, p); err != nil {
		return l, 0, err
	}
	start := time.Now().Add(enqueueBudget(n) + 3*time.Second).Truncate(time.Millisecond)
	due := dueTimes(n, start, spread)
	if err := s.enqueue(ctx, r, n, due, false); err != nil {
		return l, 0, err
	}
	gap = time.Until(start)
	if _, err := s.waitDone(ctx, time.Until(start)+spread+30*time.Second, r, p, n); err != nil {
		return l, gap, err
	}
	if err := p.stop(); err != nil {
		return l, gap, err
	}
	reqs, err := sb.finish()
	if err != nil {
		return l, gap, err
	}
	l, err = judge(reqs, due)
	return l, gap, err
}

// rowScheduled measures how early and how late scheduled sends reach the
// stand-in, for our worker and for the reference (asynq.ProcessAt, asynq's
// default check for due tasks every 5 s).
func rowScheduled(ctx context.Context, e *env) (Result, error) {
	n, spread := e.scale.Scheduled, e.scale.ScheduledSpread
	ours, oursGap, err := oursSide.scheduled(ctx, e, n, spread)
	if err != nil {
		return Result{}, fmt.Errorf("ours: %w", err)
	}
	ref, refGap, err := referenceSide.scheduled(ctx, e, n, spread)
	if err != nil {
		return Result{}, fmt.Errorf("reference: %w", err)
	}
	notes := []string{
		fmt.Sprintf("%d Mateo sends due at random ms over %s, from %s (ours) and %s (reference) after enqueueing ended; concurrency 64, RATE_LIMITS=off; ours is the worker binary, the reference plain asynq (ProcessAt) in its own process posting the same request; "+
			"each against its own sandbox binary, lateness = the sandbox's logged receipt time minus the due time",
			n, spread, oursGap.Round(time.Millisecond), refGap.Round(time.Millisecond)),
		"ours: " + ours.note(),
		"reference: " + ref.note(),
	}
	if ref.early > 0 {
		notes = append(notes, "the reference's early sends are asynq's: it keeps a due time in whole seconds (the scheduled set's score), so it may send up to 1 s before")
	}
	if min(oursGap, refGap) < 3*time.Second {
		notes = append(notes, "enqueueing took longer than planned: the first sends were due less than 3 s after it ended")
	}
	numbers := map[string]float64{}
	ours.numbers("ours_", numbers)
	ref.numbers("reference_", numbers)
	return Result{
		Measured: ours.String(),
		Bare:     ref.String(),
		Value:    fmt.Sprintf("%d early / p99 %s", ours.early, ms(ours.p99)),
		Pass:     ours.ok(50 * time.Millisecond),
		Notes:    notes,
		Numbers:  numbers,
	}, nil
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
	s, err := startStandIn(ctx, e, standInOptions{})
	if err != nil {
		return Result{}, err
	}
	defer s.stop()
	environ := mateoEnv(r, s, 256)
	environ["RATE_LIMITS"] = "off"

	cmd, err := launchCommand(bin)
	if err != nil {
		return Result{}, err
	}
	cmd.Env = envList(environ)
	var stderr strings.Builder
	cmd.Stderr = &limitWriter{w: &stderr, n: 4096}
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	_, err = waitSent(ctx, time.Minute, r, "mateo", n, func() error {
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
		Notes: []string{fmt.Sprintf("worker binary at WORKER_CONCURRENCY=256, RATE_LIMITS=off, sending %d due-now tasks to the sandbox binary in its own process; rusage Maxrss (floor %.1f MiB: the launcher's)",
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

// String returns what was kept.
func (l *limitWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *limitWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
