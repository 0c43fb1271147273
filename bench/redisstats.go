package bench

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// cmdStat is one command's line of INFO commandstats: how often Redis ran
// it (from scripts too) and the CPU time it took, in µs.
type cmdStat struct {
	calls, usec float64
}

// commandStats parses INFO commandstats into its lines by command name,
// INFO itself, which the bench runs, left out.
func commandStats(info string) map[string]cmdStat {
	stats := map[string]cmdStat{}
	for line := range strings.Lines(info) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_")
		if !ok {
			continue
		}
		name, fields, _ := strings.Cut(rest, ":")
		if name == "info" {
			continue
		}
		var s cmdStat
		for f := range strings.SplitSeq(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			x, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				s.calls = x
			case "usec":
				s.usec = x
			}
		}
		stats[name] = s
	}
	return stats
}

// perSend returns to less from, each divided by n.
func perSend(from, to map[string]cmdStat, n int) map[string]cmdStat {
	out := map[string]cmdStat{}
	for name, t := range to {
		f := from[name]
		if d := (cmdStat{(t.calls - f.calls) / float64(n), (t.usec - f.usec) / float64(n)}); d.calls > 0 {
			out[name] = d
		}
	}
	return out
}

// startSlowlog makes the server log every command in its SLOWLOG, with
// the time it took, from now on.
func startSlowlog(ctx context.Context, r *redisServer) error {
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ConfigSet(ctx, "slowlog-log-slower-than", "0")
		p.ConfigSet(ctx, "slowlog-max-len", "1000000")
		p.Do(ctx, "SLOWLOG", "RESET")
		return nil
	})
	return err
}

// slowlogScripts returns the scripts the clients ran by EVALSHA or EVAL,
// as SLOWLOG has them: how often, and the µs it timed them at, by
// "evalsha <sha>" or "eval <sha>", and the sources an EVAL showed (cut at
// 128 bytes, as SLOWLOG keeps arguments) by sha. Commands scripts run are
// not there: commandstats counts them.
func slowlogScripts(ctx context.Context, r *redisServer) (calls map[string]int, usec map[string]float64, sources map[string]string, err error) {
	logs, err := r.rdb.SlowLogGet(ctx, -1).Result()
	if err != nil {
		return nil, nil, nil, err
	}
	calls, usec, sources = map[string]int{}, map[string]float64{}, map[string]string{}
	for _, l := range logs {
		if len(l.Args) < 2 {
			continue
		}
		key := strings.ToLower(l.Args[0])
		switch key {
		case "evalsha":
			key += " " + l.Args[1]
		case "eval":
			sum := sha1.Sum([]byte(l.Args[1]))
			sha := hex.EncodeToString(sum[:])
			sources[sha] = l.Args[1]
			key += " " + sha
		default:
			continue
		}
		calls[key]++
		usec[key] += float64(l.Duration.Microseconds())
	}
	return calls, usec, sources, nil
}

// scriptNames maps the SHA of each Lua script written as a literal in
// redis.NewScript(`...`) in the punctual checkout at root (tests and the
// bench left out) and in asynq's module to where it is: the module, the
// directory of its file from the module's root, and its variable, as in
// "asynq internal/rdb.dequeueCmd", "punctual internal/asynqadapter.dequeueMarks".
func scriptNames(ctx context.Context, root string) map[string]string {
	names := map[string]string{}
	scan := func(dir, label string, skip func(path string) bool) {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				if path != dir && (skip(path) || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			rel, _ := filepath.Rel(dir, filepath.Dir(path))
			for name, src := range scriptLiterals(path) {
				sum := sha1.Sum([]byte(src))
				names[hex.EncodeToString(sum[:])] = label + " " + filepath.ToSlash(rel) + "." + name
			}
			return nil
		})
	}
	scan(root, "punctual", func(path string) bool {
		rel, _ := filepath.Rel(root, path)
		return rel == "bench" || rel == "examples" || rel == "docs"
	})
	if out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/hibiken/asynq").Output(); err == nil {
		scan(strings.TrimSpace(string(out)), "asynq", func(string) bool { return false })
	}
	return names
}

// scriptLiterals returns, by variable name, the scripts a Go file makes
// with redis.NewScript of a single string literal.
func scriptLiterals(path string) map[string]string {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, v := range spec.Values {
			call, ok := v.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 || i >= len(spec.Names) {
				continue
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			lit, isLit := call.Args[0].(*ast.BasicLit)
			if !ok || sel.Sel.Name != "NewScript" || !isLit || lit.Kind != token.STRING {
				continue
			}
			if src, err := strconv.Unquote(lit.Value); err == nil {
				out[spec.Names[i].Name] = src
			}
		}
		return true
	})
	return out
}

// scriptLabel names the script of sha: where its source is, or else its
// first line as an EVAL showed it, or else its SHA.
func scriptLabel(sha string, names, sources map[string]string) string {
	if n, ok := names[sha]; ok {
		return n
	}
	if src, ok := sources[sha]; ok {
		for l := range strings.Lines(src) {
			if l = strings.TrimSpace(l); l != "" {
				return fmt.Sprintf("script %.12s (%.50s)", sha, l)
			}
		}
	}
	return "script " + sha
}

// Share is one line of where Redis's work per send goes: a command by name
// (commandstats, which counts those run by scripts too), or a script run
// by EVALSHA/EVAL (SLOWLOG), for ours and the reference.
type Share struct {
	What string `json:"what"`
	// OursCalls and RefCalls are calls per send; OursUsec and RefUsec the
	// redis-server µs per send commandstats gives a command (for a script,
	// the time SLOWLOG gives it, its own commands' included, in a smaller
	// run of its own).
	OursCalls float64 `json:"ours_calls"`
	RefCalls  float64 `json:"reference_calls"`
	OursUsec  float64 `json:"ours_usec,omitempty"`
	RefUsec   float64 `json:"reference_usec,omitempty"`
}

// shares lists the commands (commandstats per send) and scripts (SLOWLOG
// calls over n sends, named by names and sources) of both sides, those
// ours does most more often than the reference first.
func shares(ours, ref map[string]cmdStat, oursMon, refMon drained, oursN, refN int, names, sources map[string]string) []Share {
	byWhat := map[string]*Share{}
	get := func(what string) *Share {
		if byWhat[what] == nil {
			byWhat[what] = &Share{What: what}
		}
		return byWhat[what]
	}
	for name, s := range ours {
		sh := get(name)
		sh.OursCalls, sh.OursUsec = s.calls, s.usec
	}
	for name, s := range ref {
		sh := get(name)
		sh.RefCalls, sh.RefUsec = s.calls, s.usec
	}
	script := func(key string) (string, bool) {
		cmd, sha, ok := strings.Cut(key, " ")
		if !ok {
			return "", false
		}
		return cmd + " " + scriptLabel(sha, names, sources), true
	}
	for key, c := range oursMon.scripts {
		if what, ok := script(key); ok {
			get(what).OursCalls += float64(c) / float64(oursN)
			get(what).OursUsec += oursMon.scriptUsec[key] / float64(oursN)
		}
	}
	for key, c := range refMon.scripts {
		if what, ok := script(key); ok {
			get(what).RefCalls += float64(c) / float64(refN)
			get(what).RefUsec += refMon.scriptUsec[key] / float64(refN)
		}
	}
	var out []Share
	for _, s := range byWhat {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		di, dj := out[i].OursCalls-out[i].RefCalls, out[j].OursCalls-out[j].RefCalls
		if di != dj {
			return di > dj
		}
		return out[i].What < out[j].What
	})
	return out
}
