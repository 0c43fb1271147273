package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/logging"
)

// Result is one row of the table.
type Result struct {
	Name   string `json:"name"`
	Figure string `json:"figure"`
	// Measured is ours, Bare the bare asynq reference ("" when none), Value
	// the ratio of the two or the figure the target is about.
	Measured string `json:"measured"`
	Bare     string `json:"bare"`
	Value    string `json:"value"`
	Target   string `json:"target"`
	Pass     bool   `json:"pass"`
	// Err is why the row could not be measured.
	Err string `json:"error,omitempty"`
	// Notes say how the figure was taken and what was seen.
	Notes []string `json:"notes,omitempty"`
	// Numbers are the raw figures, in the units their names say.
	Numbers map[string]float64 `json:"numbers,omitempty"`
	// Shares say where Redis's work per send goes, ours against the
	// reference, for the rows that measure it.
	Shares  []Share `json:"shares,omitempty"`
	Seconds float64 `json:"seconds"`
}

// scale holds the counts of a run.
type scale struct {
	Batch           int           `json:"batch"`
	Worker          int           `json:"worker"`
	Scheduled       int           `json:"scheduled"`
	ScheduledSpread time.Duration `json:"scheduled_spread_ns"`
	WorkerMemory    int           `json:"worker_memory"`
	RedisMemory     int           `json:"redis_memory"`
	RedisMemoryHTML int           `json:"redis_memory_html"`
	CLISmall        int           `json:"cli_small"`
	CLILarge        int           `json:"cli_large"`
	RateLimited     int           `json:"rate_limited"`    // sends per busy account
	Accounts        int           `json:"accounts"`        // accounts with one send each
	SpacedAccounts  int           `json:"spaced_accounts"` // accounts with five sends each
	BatchLimits     int           `json:"batch_limits"`    // lines of the batch with and without limits
	DevSmall        int           `json:"dev_small"`       // lines of the dev-mode batches
	DevLarge        int           `json:"dev_large"`
	Retained        int           `json:"retained"` // sends drained to weigh what completed sends keep
}

var (
	fullScale  = scale{200_000, 20_000, 10_000, 10 * time.Second, 20_000, 50_000, 50_000, 100_000, 1_000_000, 1_000, 200, 40, 50_000, 1_000, 10_000, 20_000}
	quickScale = scale{20_000, 4_000, 2_000, 3 * time.Second, 4_000, 5_000, 2_000, 10_000, 100_000, 150, 200, 40, 5_000, 500, 5_000, 2_000}
)

// env is what every row gets.
type env struct {
	scale scale
	// root is the module's directory, tmp a directory removed at the end.
	root, tmp string
	// bins are the binaries built so far, by package.
	bins map[string]string
	// drains are the worker row's drains, by side, which the redis-cpu
	// row uses rather than draining again.
	drains map[side][]drained
}

// row is one line of the table: a function and the bound on its time.
type row struct {
	name, figure, target string
	timeout              time.Duration
	run                  func(ctx context.Context, e *env) (Result, error)
}

var rows = []row{
	{"batch", "enqueue batch rate", "≥ 0.90 × bare", 4 * time.Minute, rowBatch},
	{"batch-limits", "enqueue batch rate, default limits vs off", "≥ 0.60 × off", 4 * time.Minute, rowBatchLimits},
	{"worker", "worker send rate, limits off", "≥ 0.80 × reference", 3 * time.Minute, rowWorker},
	{"redis-cpu", "redis-server CPU per send, limits off", "≤ 1.10 × reference", 4 * time.Minute, rowRedisCPU},
	{"scheduled", "scheduled sends, limits off: early, p99 late", "0 early, p99 ≤ 50ms", 2 * time.Minute, rowScheduled},
	{"accounts-200", "one send from each of 200 accounts, default limits", "0 early, p99 ≤ 50ms, 0 429s", 2 * time.Minute, rowAccounts200},
	{"accounts-40x5", "5 sends from each of 40 accounts, default limits", "0 early, p99 ≤ 50ms past the limit, 0 429s", 2 * time.Minute, rowAccounts40x5},
	{"window-open", "10,000 sends of 100 accounts held for a window, 2 workers", "0 early, 0 outside, 0 429s, p99 ≤ 100ms", 3 * time.Minute, rowWindowOpen},
	{"rate-limited", "50/s per token, 4 accounts, 2 workers", "≥ 90%, 429s ≤ 0.1%, ≤ 1.2 pickups, lone ≤ 1s", 2 * time.Minute, rowRateLimited},
	{"dev-linearity", "enqueue batch into worker --dev, 10k vs 1k lines", "10k ≤ 12 × 1k", 4 * time.Minute, rowDevLinearity},
	{"worker-memory", "worker peak RSS, concurrency 256", "≤ 150 MiB", 2 * time.Minute, rowWorkerMemory},
	{"redis-memory", "Redis bytes per scheduled send (364 B)", "≤ 1.00 × bare", 2 * time.Minute, rowRedisMemory},
	{"redis-memory-html", "Redis bytes per scheduled send (20 KB HTML)", "≤ 0.30 × bare", 3 * time.Minute, rowRedisMemoryHTML},
	{"redis-retained", "Redis bytes kept per completed send", "≤ 500 B", 3 * time.Minute, rowRedisRetained},
	{"cli-memory", "enqueue batch peak RSS, 1M vs 100k lines", "1M ≤ 1.2 × 100k + 8 MiB", 5 * time.Minute, rowCLIMemory},
	{"accounts-reload", "ACCOUNTS_FILE of 5,000 accounts: load, reload", "each ≤ 250ms", time.Minute, rowAccountsReload},
	{"cluster-shards", "3-master Cluster, QUEUE_SHARDS=12 vs 1: busiest master's share of commands, send rate", "≤ 45%, ≥ 0.90 × 1 shard", 4 * time.Minute, rowClusterShards},
	{"shard-commands", "Redis commands per send, QUEUE_SHARDS=32 vs 1", "≤ 1.20 × 1 shard", 2 * time.Minute, rowShardCommands},
}

// deadline bounds the whole run.
const deadline = 20 * time.Minute

// Child runs the roles the bench starts copies of its own binary in:
// args (the command line without the program name) starting with
// "-launch" or "-reference-worker". It reports whether args named one, and
// that role's exit status.
func Child(args []string) (status int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case launchFlag:
		return launch(args[1:]), true
	case referenceFlag:
		return referenceWorker(), true
	}
	return 0, false
}

// Options choose what a run measures.
type Options struct {
	// Quick runs smaller counts: a smoke run, whose figures are not the
	// targets' figures.
	Quick bool
	// Only names the rows to run, comma-separated; "" runs them all.
	Only string
	// Verbose prints, under the table, where each row's Redis commands go.
	Verbose bool
	// CPUProfile, when set, is the file a CPU profile of the bench process
	// is written to.
	CPUProfile string
}

// Run measures the rows, prints the table and writes it to
// bench-results/latest.json in the module's directory. It returns the exit
// status: 1 when a row could not be measured or the profile not written, 2
// for an unknown row, 0 otherwise, targets missed or not.
func Run(o Options) int {
	if o.CPUProfile == "" {
		return run(o)
	}
	stop, err := profileCPU(o.CPUProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer stop()
	return run(o)
}

// Rows names the rows, in the order they run.
func Rows() []string {
	var names []string
	for _, r := range rows {
		names = append(names, r.name)
	}
	return names
}

func run(o Options) int {
	quick := o.Quick
	var only []string
	if o.Only != "" {
		only = strings.Split(o.Only, ",")
	}
	for _, name := range only {
		if !slices.Contains(Rows(), name) {
			fmt.Fprintf(os.Stderr, "bench: -only: unknown row %q (one of %s)\n", name, strings.Join(Rows(), ", "))
			return 2
		}
	}
	redis.SetLogger(logging.Redis{L: zap.NewNop().Sugar()})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()

	root, err := moduleRoot(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "punctual-bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	e := &env{scale: fullScale, root: root, tmp: tmp, bins: map[string]string{}, drains: map[side][]drained{}}
	if quick {
		e.scale = quickScale
	}

	m := describeMachine(ctx)
	fmt.Println(m)
	if quick {
		fmt.Println("quick run: smaller counts, a smoke test; its figures are not the targets' figures")
	}
	start := time.Now()
	var results []Result
	failed := false
	for _, r := range rows {
		if only != nil && !slices.Contains(only, r.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s...\n", r.name)
		res := runRow(ctx, e, r)
		fmt.Fprintf(os.Stderr, "bench: %s done in %.1fs\n", r.name, res.Seconds)
		failed = failed || res.Err != ""
		results = append(results, res)
	}
	took := time.Since(start)
	fmt.Println()
	printTable(results)
	if o.Verbose {
		printShares(results)
	}
	fmt.Printf("\ntook %s\n", took.Round(time.Second))

	report := struct {
		Machine machine   `json:"machine"`
		Quick   bool      `json:"quick"`
		Scale   scale     `json:"scale"`
		Started time.Time `json:"started"`
		Seconds float64   `json:"seconds"`
		Rows    []Result  `json:"rows"`
	}{m, quick, e.scale, start.UTC(), took.Seconds(), results}
	if err := writeJSON(filepath.Join(root, "bench-results", "latest.json"), report); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

// runRow runs one row within its time bound; an error becomes a missed row
// that says why.
func runRow(ctx context.Context, e *env, r row) Result {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	start := time.Now()
	res, err := r.run(ctx, e)
	if err != nil {
		res = Result{Measured: "error", Err: err.Error(), Notes: res.Notes}
	}
	res.Name, res.Figure, res.Target = r.name, r.figure, r.target
	res.Seconds = time.Since(start).Seconds()
	return res
}

func printTable(results []Result) {
	header := []string{"figure", "measured", "reference (asynq)", "ratio/value", "target", "pass/miss"}
	lines := [][]string{header}
	for _, r := range results {
		verdict := "miss"
		if r.Pass {
			verdict = "pass"
		}
		lines = append(lines, []string{r.Name + ": " + r.Figure, r.Measured, orDash(r.Bare), orDash(r.Value), r.Target, verdict})
	}
	widths := make([]int, len(header))
	for _, l := range lines {
		for i, c := range l {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for n, l := range lines {
		cells := make([]string, len(l))
		for i, c := range l {
			cells[i] = c + strings.Repeat(" ", widths[i]-len([]rune(c)))
		}
		fmt.Println(strings.TrimRight(strings.Join(cells, " | "), " "))
		if n == 0 {
			seps := make([]string, len(widths))
			for i, w := range widths {
				seps[i] = strings.Repeat("-", w)
			}
			fmt.Println(strings.Join(seps, "-|-"))
		}
	}
	fmt.Println()
	for _, r := range results {
		if r.Err != "" {
			fmt.Printf("%s: error: %s\n", r.Name, r.Err)
		}
		for _, n := range r.Notes {
			fmt.Printf("%s: %s\n", r.Name, n)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// profileCPU starts a CPU profile written to path; stop ends it.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
