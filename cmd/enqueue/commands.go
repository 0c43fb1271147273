package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/spf13/cobra"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/tasks"
)

// withProducer adapts the body of a command that needs a producer
// configured from the environment.
func withProducer(run func(cmd *cobra.Command, args []string, p *producer.Producer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		p, err := open()
		if err != nil {
			return err
		}
		defer p.Close()
		return run(cmd, args, p)
	}
}

// open returns a producer configured from the environment, as an app's
// producer.FromEnv is.
func open() (*producer.Producer, error) {
	return producer.FromEnv()
}

func sendCommand() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "send [--wait] ENVELOPE_JSON|-",
		Short: "Schedule one send; prints its task id and state",
		Long: `Schedule one send and print its task id and state.

An envelope without a key gets one derived from its content, as batch gives
each line: sending the same envelope again enqueues nothing and prints
"duplicate" with the first send's id. Give distinct keys (or content) for
sends meant to happen twice.

Exit status: 0 enqueued or duplicate; 2 the envelope was rejected (invalid,
an unknown window name, tz "auto" without a phone number...) or bad usage;
1 the run failed (Redis unreachable; with --wait, the send failed).`,
		Example: `  enqueue send '{"type":"mateo:send_message","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi"}}'
  enqueue send --wait - < examples/mateo-send-message.json`,
		Args: exactArgs(1),
		RunE: withProducer(func(cmd *cobra.Command, args []string, p *producer.Producer) error {
			data := []byte(args[0])
			if args[0] == "-" {
				var err error
				if data, err = io.ReadAll(cmd.InOrStdin()); err != nil {
					return localError{fmt.Errorf("reading the envelope: %w", err)}
				}
			}
			env, err := tasks.ParseEnvelope(data, p.Providers())
			if err != nil {
				return usageError{fmt.Errorf("invalid envelope:\n%s", indent(err.Error()))}
			}
			ctx := cmd.Context()
			res, err := p.EnqueueOnce(ctx, env)
			var fe *jsonvalue.FieldError
			if errors.As(err, &fe) {
				return usageError{fmt.Errorf("envelope rejected:\n%s", indent(err.Error()))}
			}
			if err != nil {
				return err
			}
			state := res.State
			if res.Duplicate {
				state = "duplicate"
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.ID, state)
			if !wait {
				return nil
			}
			return waitFor(ctx, p, res.ID, cmd.OutOrStdout())
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the send is done or archived, then print its status")
	return cmd
}

// waitFor polls a task until it is completed or archived and prints its status.
func waitFor(ctx context.Context, p *producer.Producer, id string, w io.Writer) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := p.Status(ctx, id)
		if err != nil {
			return err
		}
		if s.State == producer.StateCompleted || s.State == producer.StateArchived {
			printStatus(w, s)
			if s.State == producer.StateArchived {
				return errors.New("the send failed: " + s.LastError)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status TASK_ID",
		Short: "Show a task's state, attempts, last error and provider response",
		Long: `Show a task's state, attempts, last error and provider response.

A send that waits (for its window to open, a recipient's cap, its account's rate
limit, a provider's hold, a worker with its credential) is in state "waiting":
"waiting for" says what, "until" the exact time it may go. A wait spends no
attempt. A cancelled send shows when it was cancelled and, when known, when it
was due. TASK_ID must be a task id (a UUID): anything else exits 2.`,
		Example: `  enqueue status 5c1b0d52-8d9e-5b71-a3c4-0e6f7a8b9c1d`,
		Args:    taskIDArgs(1),
		RunE: withProducer(func(cmd *cobra.Command, args []string, p *producer.Producer) error {
			s, err := p.Status(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			printStatus(cmd.OutOrStdout(), s)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func printStatus(w io.Writer, s *producer.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, value string) { fmt.Fprintf(tw, "%s:\t%s\n", name, value) }
	row("id", s.ID)
	row("type", s.Type)
	row("queue", s.Queue)
	row("state", stateOf(s))
	row("account", s.Account)
	if s.Group != "" {
		row("group", s.Group)
	}
	if s.State == producer.StateCancelled {
		row("cancelled", timeOr(s.CancelledAt, ""))
		if !s.Due.IsZero() {
			row("was due", timeOr(s.Due, ""))
		}
		_ = tw.Flush()
		return
	}
	row("due", timeOr(s.Due, "at once"))
	if s.Wait != nil {
		row("waiting for", waitReasons[s.Wait.Reason]+" ("+s.Wait.Reason+")")
		row("until", timeOr(s.Wait.Until, "unknown"))
	}
	if s.Window != "" || !s.WindowAt.IsZero() {
		row("window", windowOf(s))
	}
	if !s.ExpiresAt.IsZero() {
		row("expires", timeOr(s.ExpiresAt, ""))
	}
	row("attempts failed", fmt.Sprintf("%d of at most %d retries", s.Retried, s.MaxRetry))
	if s.LastError != "" && s.Wait == nil {
		row("last error", s.LastError)
		row("last failed", timeOr(s.LastFailedAt, ""))
	}
	if !s.NextProcessAt.IsZero() && s.Wait == nil && (s.State == producer.StateScheduled || s.State == producer.StateRetry) {
		row("next attempt", timeOr(s.NextProcessAt, ""))
	}
	if !s.CompletedAt.IsZero() {
		row("completed", timeOr(s.CompletedAt, ""))
	}
	if s.Result != nil {
		dup := ""
		if s.Result.Duplicate {
			dup = " (duplicate: the provider already had it)"
		}
		row("answer", fmt.Sprintf("%s %d%s", s.Result.Provider, s.Result.Status, dup))
		row("response", string(s.Result.Response))
	}
	_ = tw.Flush()
}

// stateOf is the state told of a send: a send that waits (for its window,
// a cap, a rate limit...) is "waiting", though asynq holds it as a retry.
func stateOf(s *producer.Status) string {
	if s.Wait != nil {
		return "waiting"
	}
	return string(s.State)
}

// waitReasons say in words what each reason of a wait is.
var waitReasons = map[string]string{
	"window":        "its send window to open",
	"recipient_cap": "a recipient's cap (RECIPIENT_CAPS)",
	"rate_limit":    "its account's rate limit",
	"provider_hold": "the provider's hold on its account",
	"no_account":    "a worker with its account's credential",
	"capacity":      "a free send slot (WORKER_CONCURRENCY)",
	"redis":         "Redis",
	"not_due":       "its time (put back to wait for it)",
	"credentials":   "its account's credential (a token being renewed)",
	"stopping":      "another worker (this one stopped before its request)",
}

// windowOf says the time the send's window gave it, and the window the
// envelope named (none named: its account's).
func windowOf(s *producer.Status) string {
	named := s.Window
	if named == "" {
		named = "the account's"
	}
	if s.WindowAt.IsZero() {
		return named
	}
	return timeOr(s.WindowAt, "") + " (" + named + ")"
}

func timeOr(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.Local().Format("2006-01-02T15:04:05.999Z07:00") // to the millisecond, as sends are timed
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// exactArgs is cobra.ExactArgs whose error is a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// taskIDArgs takes n arguments, the first a task id: a UUID, as every task
// id is. Anything else is bad usage, told before Redis is asked.
func taskIDArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := exactArgs(n)(cmd, args); err != nil {
			return err
		}
		return checkTaskID(args[0])
	}
}

// checkTaskID says why id is no task id, if it is not.
func checkTaskID(id string) error {
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return usageError{fmt.Errorf("TASK_ID: not a task id (a UUID such as 5c1b0d52-8d9e-5b71-a3c4-0e6f7a8b9c1d): %q", id)}
	}
	return nil
}
