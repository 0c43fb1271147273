package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Figures of the window-open row: LeadConnector's published 100/10s
// (lcCount per lcPeriod, lcMinGap apart when spread evenly), which the
// calendar spaces 3% wide (lcSpacing) and the stand-in enforces per token.
const (
	windowAccounts = 100
	windowPer      = 100
	windowWorkers  = 2
	lcCount        = 100
	lcPeriod       = 10 * time.Second
	lcSpacing      = 103 * time.Millisecond
	lcMinGap       = lcPeriod / lcCount
	// windowLead is how long before the opening the enqueueing starts:
	// 10,000 lines take the enqueue binary one to five seconds on a busy
	// machine, so the window opens a few seconds after it ends.
	windowLead = 10 * time.Second
	// windowOpenFor is how long the window stays open: long past the
	// drain, so that a send after its close is a fault, not the schedule.
	windowOpenFor = 2 * time.Minute
)

// windowRun is what the stand-in received for sends held for a window.
type windowRun struct {
	reqs    []received
	opening time.Time
	// idle is how long after the enqueueing ended the window opened.
	idle time.Duration
}

// rowWindowOpen sends 100 LeadConnector sends from each of 100 accounts,
// all due now and held for a send window that opens a few seconds after
// the enqueue binary's batch ends, through two worker processes with the
// published limits, to the stand-in enforcing them: each account's sends
// must go from the opening on, as fast as its limit allows, none outside
// the window and none refused.
func rowWindowOpen(ctx context.Context, e *env) (Result, error) {
	run, err := windowSends(ctx, e)
	if err != nil {
		return Result{}, err
	}
	w, err := judgeWindow(run.reqs, run.opening, run.opening.Add(windowOpenFor))
	if err != nil {
		return Result{}, err
	}
	notes := []string{
		fmt.Sprintf("%d LeadConnector accounts × %d sends, all due at enqueue and held for a window (tz UTC, %s to %s) that opened %s after the enqueue binary's batch ended; %d worker binaries at concurrency 64, RATE_LIMITS unset (the published %s); the sandbox binary in its own process enforcing the same per token",
			windowAccounts, windowPer, run.opening.Format("15:04"), run.opening.Add(windowOpenFor).Format("15:04"), run.idle.Round(time.Millisecond), windowWorkers, publishedLimits),
		fmt.Sprintf("ideal: an account's k-th send (k from 0) at the opening + k × %s (the calendar's spacing of 100/10s, 3%% wide; %s apart is the limit itself); early = before the opening, before the limit's own k-th slot (the opening + k × %s: k+1 of the account's requests by then), or more than %d of an account's requests within %s; outside = after the window closed",
			lcSpacing, lcMinGap, lcMinGap, lcCount, lcPeriod),
		w.note(),
	}
	numbers := map[string]float64{
		"early": float64(w.early), "outside": float64(w.outside), "429s": float64(w.limited), "missing": float64(w.missing),
		"failed": float64(w.failed), "p50_ms": msf(w.p50), "p99_ms": msf(w.p99), "max_ms": msf(w.max),
		"p99_vs_100ms_grid_ms": msf(w.p99Grid), "first_p99_ms": msf(w.firstP99), "drain_s": w.drain.Seconds(), "idle_s": run.idle.Seconds(),
	}
	pass := w.early == 0 && w.outside == 0 && w.limited == 0 && w.missing == 0 && w.extra == 0 && w.failed == 0 && w.p99 <= 100*time.Millisecond
	return Result{
		Measured: fmt.Sprintf("%d early, %d outside, %d×429, p99 %s, drain %s", w.early, w.outside, w.limited, ms(w.p99), w.drain.Round(10*time.Millisecond)),
		Value:    fmt.Sprintf("p99 %s / drain %.2f × 10s", ms(w.p99), w.drain.Seconds()/10),
		Pass:     pass,
		Notes:    notes,
		Numbers:  numbers,
	}, nil
}

// windowSends runs the row's sends and returns what the stand-in received.
func windowSends(ctx context.Context, e *env) (run windowRun, err error) {
	r, err := startRedis(e)
	if err != nil {
		return run, err
	}
	defer r.stop()
	// name=token, as LEADCONNECTOR_ACCOUNTS reads them.
	names := make([]string, windowAccounts)
	for a := range windowAccounts {
		names[a] = fmt.Sprintf("lc%d=tok-lc%d", a, a)
	}
	sb, err := startStandIn(ctx, e, standInOptions{limits: publishedLimits})
	if err != nil {
		return run, err
	}
	defer sb.stop()
	environ := mateoEnv(r, sb, 64)
	environ["LEADCONNECTOR_ACCOUNTS"] = strings.Join(names, ",")
	var workers []*proc
	defer func() {
		for _, p := range workers {
			_ = p.stop()
		}
	}()
	for range windowWorkers {
		p, err := oursSide.start(ctx, e, environ)
		if err != nil {
			return run, err
		}
		workers = append(workers, p)
		if err := waitReady(ctx, r, p); err != nil {
			return run, err
		}
	}

	// Windows open on the minute: the first whole minute the enqueueing
	// can start windowLead before, waited for.
	run.opening = time.Now().Add(windowLead + time.Second).Add(time.Minute - 1).Truncate(time.Minute)
	win := fmt.Sprintf(`{"tz":"UTC","from":%q,"to":%q}`, run.opening.UTC().Format("15:04"), run.opening.Add(windowOpenFor).UTC().Format("15:04"))
	n := windowAccounts * windowPer
	enqueue, path, err := enqueueFile(ctx, e, "window.jsonl", n, func(i int) []byte {
		// Interleaved: each account's sends spread over the whole file.
		return fmt.Appendf(nil, `{"type":"leadconnector:send_message","account":"lc%d","window":%s,"payload":{"type":"SMS","contactId":"c%d","message":"bench #%d: your order ships tomorrow"}}`,
			i%windowAccounts, win, i, i)
	})
	defer os.Remove(path)
	if err != nil {
		return run, err
	}
	select {
	case <-time.After(time.Until(run.opening.Add(-windowLead))):
	case <-ctx.Done():
		return run, ctx.Err()
	}
	if _, err := batchFile(ctx, enqueue, enqueueEnv(r.url(), ""), path, n); err != nil {
		return run, err
	}
	if run.idle = time.Until(run.opening); run.idle <= 0 {
		return run, fmt.Errorf("the enqueueing ended %s after the window opened: the row measures sends held for it", (-run.idle).Round(time.Millisecond))
	}
	exited := func() error {
		for _, p := range workers {
			if err := p.exited(); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := waitSent(ctx, run.idle+time.Duration(windowPer)*lcSpacing+30*time.Second, r, "leadconnector", n, exited); err != nil {
		return run, err
	}
	var errs []error
	for _, p := range workers {
		errs = append(errs, p.stop())
	}
	workers = nil
	if err := errors.Join(errs...); err != nil {
		return run, err
	}
	run.reqs, err = sb.finish()
	return run, err
}

// windowLateness is what the stand-in received for the row's sends.
type windowLateness struct {
	lateness
	// outside counts requests after the window closed.
	outside int
	// p99Grid is the p99 against a 100 ms grid from the opening, the
	// limit without the calendar's 3%; firstP99 that of each account's
	// first send alone.
	p99Grid, firstP99 time.Duration
	// drain is the opening to the last accepted request.
	drain time.Duration
}

func (w windowLateness) note() string {
	return fmt.Sprintf("%d early, %d outside, %d missing, %d extra, %d×429, %d other failures; lateness past the ideal p50 %s, p99 %s, max %s; each account's first send p99 %s; p99 against a strict 100 ms grid %s; drain %s (ideal 10 s: 100 sends at 100/10s)",
		w.early, w.outside, w.missing, w.extra, w.limited, w.failed, ms(w.p50), ms(w.p99), ms(w.max), ms(w.firstP99), ms(w.p99Grid), w.drain.Round(time.Millisecond))
}

// judgeWindow judges the requests of the row's sends (send i is account
// i % windowAccounts's) against a window from opening to closing.
func judgeWindow(reqs []received, opening, closing time.Time) (windowLateness, error) {
	n := windowAccounts * windowPer
	due := make([]time.Time, n)
	for i := range due {
		due[i] = opening // early: before the opening
	}
	first, l, err := accepted(reqs, due)
	w := windowLateness{lateness: l}
	if err != nil {
		return w, err
	}
	// Every request an account received counts for its spacing, refused
	// ones too: each reached the provider.
	all, got := map[int][]time.Time{}, map[int][]time.Time{}
	for _, r := range reqs {
		i, _ := textIndex(r.Body) // accepted checked it
		all[i%windowAccounts] = append(all[i%windowAccounts], r.At)
		if !r.At.Before(closing) {
			w.outside++
		}
	}
	for i, at := range first {
		got[i%windowAccounts] = append(got[i%windowAccounts], at)
	}
	for _, ats := range all {
		slices.SortFunc(ats, time.Time.Compare)
		for k := lcCount; k < len(ats); k++ {
			if ats[k].Sub(ats[k-lcCount]) < lcPeriod {
				w.early++ // more than the limit in one period
			}
		}
	}
	var late, grid, firsts []time.Duration
	for _, ats := range got {
		slices.SortFunc(ats, time.Time.Compare)
		for k, at := range ats {
			ideal, even := opening.Add(time.Duration(k)*lcSpacing), opening.Add(time.Duration(k)*lcMinGap)
			if at.Before(even) && !at.Before(opening) {
				w.early++ // k+1 sends before the limit's k-th slot: faster than it from the opening
			}
			late = append(late, at.Sub(ideal))
			grid = append(grid, at.Sub(even))
			if k == 0 {
				firsts = append(firsts, at.Sub(opening))
			}
		}
		if d := ats[len(ats)-1].Sub(opening); d > w.drain {
			w.drain = d
		}
	}
	w.percentiles(late)
	var g, f lateness
	g.percentiles(grid)
	f.percentiles(firsts)
	w.p99Grid, w.firstP99 = g.p99, f.p99
	return w, nil
}
