package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/punctualhq/punctual/producer"
)

// errRejected makes a batch with rejected lines exit 2.
var errRejected = usageError{errors.New("some lines were rejected")}

func batchCommand() *cobra.Command {
	var (
		dryRun      bool
		reportPath  string
		concurrency int
	)
	cmd := &cobra.Command{
		Use:   "batch [--dry-run] [--report FILE] [--concurrency N] FILE|-",
		Short: "Schedule the envelopes of a JSON Lines file, one per line",
		Long: `Schedule the envelopes of a JSON Lines file (or standard input), one per line.

Each bad line is reported with its number and reason, in line order, and does
not stop the others. Blank lines are skipped (the summary counts them).
A line without a key gets one derived from its content, as send does: running
the same file again, whole or after an interruption, enqueues nothing twice.

--dry-run checks every line and enqueues nothing; a line whose send is already
in Redis (or repeats an earlier line) counts as duplicate. When Redis does not
answer, the dry run still checks the lines, counts only the repeated ones as
duplicate, and says on stderr that Redis was not asked.

Exit status: 0 every line enqueued or duplicate; 2 some lines rejected (the
valid ones are still enqueued unless --dry-run), or bad usage; 1 the run failed
(FILE or --report's file cannot be opened, checked before Redis; Redis
unreachable).`,
		Example: `  enqueue batch messages.jsonl
  enqueue batch --dry-run --report rejected.jsonl messages.jsonl
  generate-reminders | enqueue batch --concurrency 32 -`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if concurrency < 1 {
				return usageError{fmt.Errorf("--concurrency: must be at least 1, not %d", concurrency)}
			}
			if os.Getenv("GOGC") == "" {
				// A batch keeps a few MiB live and allocates for each
				// line: collecting at five times that, not twice, leaves
				// memory small and cuts the collector's share of the CPU.
				debug.SetGCPercent(400)
			}
			// The files first: one that cannot be read or written is told
			// as such, whatever Redis's state.
			in, total, err := input(cmd, args[0])
			if err != nil {
				return localError{err}
			}
			defer in.Close()
			var report *json.Encoder
			if reportPath != "" {
				f, err := os.Create(reportPath)
				if err != nil {
					return localError{fmt.Errorf("--report: %w", err)}
				}
				defer f.Close()
				buf := bufio.NewWriter(f)
				defer buf.Flush()
				report = json.NewEncoder(buf)
			}

			p, err := open()
			if err != nil {
				return err
			}
			defer p.Close()

			bar := newProgress(cmd.ErrOrStderr(), total, isTerminal(cmd.ErrOrStderr()))
			start := time.Now()
			sum, err := p.Batch(cmd.Context(), in, producer.BatchOptions{
				Concurrency: concurrency,
				DryRun:      dryRun,
				OnLine:      bar.add,
				OnReject: func(line int, err error) {
					rej := &producer.RejectedError{Line: line, Err: err}
					bar.println(rej)
					if report != nil {
						_ = report.Encode(map[string]any{"line": line, "error": rej.Reason()})
					}
				},
			})
			bar.finish()
			took := time.Since(start)
			verb := "enqueued"
			if dryRun {
				verb = "valid (dry run, nothing enqueued)"
			}
			if sum.DuplicatesUnchecked {
				fmt.Fprintln(cmd.ErrOrStderr(), "Redis did not answer: lines already enqueued were not looked for, and count as valid")
			}
			blank := ""
			if n := sum.Lines - sum.Enqueued - sum.Duplicate - sum.Rejected; err == nil && n > 0 {
				// Every line of a finished run is one of those or blank.
				blank = fmt.Sprintf(" (%d blank, skipped)", n)
			}
			lines := "lines"
			if sum.Lines == 1 {
				lines = "line"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %d, duplicate %d, rejected %d; %d %s%s in %s (%.0f lines/s)\n",
				verb, sum.Enqueued, sum.Duplicate, sum.Rejected, sum.Lines, lines, blank, took.Round(time.Millisecond), float64(sum.Lines)/took.Seconds())
			switch {
			case err != nil && cmd.Context().Err() != nil:
				return errors.New("interrupted: run the same command again to finish; lines already enqueued are skipped")
			case err != nil:
				return err
			case sum.Rejected > 0:
				return errRejected
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check every line and enqueue nothing")
	cmd.Flags().StringVar(&reportPath, "report", "", `write each rejected line to FILE as JSON Lines: {"line": N, "error": "..."}`)
	cmd.Flags().IntVar(&concurrency, "concurrency", 16, "how many lines to enqueue at once")
	return cmd
}

// input opens FILE or standard input, and counts the lines of a regular
// file when a progress bar will show them (-1 when not counted).
func input(cmd *cobra.Command, path string) (io.ReadCloser, int, error) {
	if path == "-" {
		return io.NopCloser(cmd.InOrStdin()), -1, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	if !isTerminal(cmd.ErrOrStderr()) {
		return f, -1, nil
	}
	total, err := countLines(f)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, total, nil
}

func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 1<<20)
	n, last := 0, byte('\n')
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += bytes.Count(buf[:k], []byte{'\n'})
			last = buf[k-1]
		}
		if err == io.EOF {
			if last != '\n' {
				n++
			}
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
