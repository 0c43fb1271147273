package bench

import (
	"context"
	"fmt"
	"strings"
)

// loggedSends is how many sends each side drains with every command in
// the SLOWLOG, to learn which scripts its EVALSHAs run and what they cost.
const loggedSends = 2000

// rowRedisCPU compares the redis-server CPU time and the commands a send
// costs, our worker binary against the reference draining the same
// due-now sends, and says where each command above the reference goes. It
// uses the worker row's drains when that row ran, else drains twice a
// side, alternating; then once a side with every command in the SLOWLOG,
// smaller, for the scripts.
func rowRedisCPU(ctx context.Context, e *env) (Result, error) {
	n := e.scale.Worker
	for len(e.drains[oursSide]) < 2 || len(e.drains[referenceSide]) < 2 {
		for _, s := range []side{referenceSide, oursSide} {
			d, err := s.drain(ctx, e, n, false)
			if err != nil {
				return Result{}, fmt.Errorf("%s: %w", s, err)
			}
			e.drains[s] = append(e.drains[s], d)
		}
	}
	ours, ref := meanDrain(e.drains[oursSide]), meanDrain(e.drains[referenceSide])
	m := min(n, loggedSends)
	var mons [2]drained
	for i, s := range []side{oursSide, referenceSide} {
		d, err := s.drain(ctx, e, m, true)
		if err != nil {
			return Result{}, fmt.Errorf("%s, logged: %w", s, err)
		}
		mons[i] = d
	}
	names := scriptNames(ctx, e.root)
	sources := map[string]string{}
	for _, d := range mons {
		for sha, src := range d.sources {
			sources[sha] = src
		}
	}
	sh := shares(ours.stats, ref.stats, mons[0], mons[1], m, m, names, sources)
	var above []string
	for _, s := range sh {
		if d := s.OursCalls - s.RefCalls; d >= 0.05 {
			above = append(above, fmt.Sprintf("%s +%.2f (%+.1fµs)", s.What, d, s.OursUsec-s.RefUsec))
		}
	}
	cpuRatio := ours.redisCPU / ref.redisCPU
	runs := func(ds []drained) string {
		var out []string
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%.0fµs/%.1f", d.redisCPU, d.commands))
		}
		return strings.Join(out, ", ")
	}
	return Result{
		Measured: fmt.Sprintf("%.0f µs, %.1f cmds", ours.redisCPU, ours.commands),
		Bare:     fmt.Sprintf("%.0f µs, %.1f cmds", ref.redisCPU, ref.commands),
		Value:    fmt.Sprintf("%.2f", cpuRatio),
		Pass:     cpuRatio <= 1.1,
		Notes: []string{
			fmt.Sprintf("redis-server CPU (INFO cpu, user+sys) and commands (INFO commandstats, those scripts run included, the bench's own left out) per send, "+
				"draining %d due-now Mateo sends as the worker row does; mean of the runs, µs/commands: ours %s, reference %s", n, runs(e.drains[oursSide]), runs(e.drains[referenceSide])),
			fmt.Sprintf("commands per send ours %.1f, reference %.1f (× %.2f); per send above the reference (commands by name, EVALSHA by script from the SLOWLOG of %d sends a side; -v for the list): %s",
				ours.commands, ref.commands, ours.commands/ref.commands, m, strings.Join(above, "; ")),
		},
		Numbers: map[string]float64{"ours_redis_usec_per_send": ours.redisCPU, "reference_redis_usec_per_send": ref.redisCPU, "cpu_ratio": cpuRatio,
			"ours_commands_per_send": ours.commands, "reference_commands_per_send": ref.commands},
		Shares: sh,
	}, nil
}

// meanDrain is the mean of the drains' rates, Redis CPU, commands and
// commandstats per send.
func meanDrain(ds []drained) drained {
	out := drained{stats: map[string]cmdStat{}}
	k := float64(len(ds))
	for _, d := range ds {
		out.rate += d.rate / k
		out.redisCPU += d.redisCPU / k
		out.commands += d.commands / k
		for name, s := range d.stats {
			t := out.stats[name]
			t.calls += s.calls / k
			t.usec += s.usec / k
			out.stats[name] = t
		}
	}
	return out
}

// printShares prints, for each row that has them, where Redis's work per
// send goes, ours against the reference.
func printShares(results []Result) {
	for _, r := range results {
		if len(r.Shares) == 0 {
			continue
		}
		fmt.Printf("\n%s: per send, ours vs reference (commands by name from commandstats, those scripts run included; scripts and their µs by SLOWLOG, in a run of their own):\n", r.Name)
		fmt.Printf("  %-70s %8s %8s %8s %9s %9s\n", "command or script", "ours", "ref", "+calls", "ours µs", "ref µs")
		for _, s := range r.Shares {
			fmt.Printf("  %-70s %8.2f %8.2f %+8.2f %9.2f %9.2f\n", s.What, s.OursCalls, s.RefCalls, s.OursCalls-s.RefCalls, s.OursUsec, s.RefUsec)
		}
	}
}
