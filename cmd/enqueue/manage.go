package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/tasks"
)

func cancelCommand() *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "cancel TASK_ID | --group G",
		Short: "Make a scheduled or pending send, or every send of a group, not happen",
		Long: `Make a send that has not started not happen. A send that has started or ended cannot be cancelled (exit 1).
A send cancelled before is reported "TASK_ID already cancelled" with exit 0: what was asked holds, so a script may
cancel twice. An id no queue holds, nor the recently cancelled sends, is "no such task" (exit 1); an argument that is
no task id (a UUID) is bad usage (exit 2).
With --group, every send of the group that has not started is cancelled, those held by a worker for their time
included; it prints how many were cancelled and how many had already started. Once it returns, no send of the
group starts.`,
		Example: `  enqueue cancel 5c1b0d52-8d9e-5b71-a3c4-0e6f7a8b9c1d
  enqueue cancel --group contact:abc123`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case (group != "") == (len(args) == 1) || len(args) > 1:
				return usageError{errors.New("give one TASK_ID or --group G")}
			case len(args) == 1:
				return checkTaskID(args[0])
			case group != "" && !tasks.IsGroup(group):
				return usageError{fmt.Errorf("--group: not a group name (letters, digits, _ . - : / @ # + =; at most 128): %q", group)}
			}
			return nil
		},
		RunE: withProducer(func(cmd *cobra.Command, args []string, p *producer.Producer) error {
			if group != "" {
				res, err := p.CancelGroup(cmd.Context(), group)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "group %s: %d cancelled, %d already started", group, res.Cancelled, res.Started)
				if res.Gone > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), ", %d no longer held", res.Gone)
				}
				fmt.Fprintln(cmd.OutOrStdout())
				return nil
			}
			err := p.Cancel(cmd.Context(), args[0])
			if errors.Is(err, producer.ErrAlreadyCancelled) {
				fmt.Fprintln(cmd.OutOrStdout(), args[0], "already cancelled")
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), args[0], "cancelled")
			return nil
		}),
	}
	cmd.Flags().StringVar(&group, "group", "", "cancel every send of this group that has not started")
	return cmd
}

func rescheduleCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "reschedule TASK_ID TIME",
		Short:   "Move a send that has not started to another time (RFC 3339)",
		Example: `  enqueue reschedule 5c1b0d52-8d9e-5b71-a3c4-0e6f7a8b9c1d 2027-11-22T09:30:00+01:00`,
		Args:    taskIDArgs(2),
		RunE: withProducer(func(cmd *cobra.Command, args []string, p *producer.Producer) error {
			at, err := time.Parse(time.RFC3339Nano, args[1])
			if err != nil {
				return usageError{fmt.Errorf("TIME: not an RFC 3339 time: %q", args[1])}
			}
			res, err := p.Reschedule(cmd.Context(), args[0], at)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.ID, res.State, at.Format(time.RFC3339Nano))
			return nil
		}),
	}
}

func listCommand() *cobra.Command {
	var state, queue string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--state STATE] [--queue Q] [--limit N]",
		Short: "List tasks: every state but completed and cancelled, or one state",
		Long: `List tasks: every state but completed and cancelled, or one state.

A send that waits (for its window, a recipient's cap, a rate limit...) is shown
in state "waiting", with what it waits for and the exact time it waits until in
the last column; asynq holds it as a retry, so --state retry lists it. DUE is
the time the envelope asked for ("at once" when none); a cancelled send shows
the time it was due, when it was cancelled on its own.`,
		Example: `  enqueue list
  enqueue list --state archived
  enqueue list --state scheduled --queue bulk --limit 1000`,
		Args: exactArgs(0),
		RunE: withProducer(func(cmd *cobra.Command, _ []string, p *producer.Producer) error {
			var st producer.State
			if state != "" {
				var err error
				if st, err = producer.ParseState(state); err != nil {
					return usageError{fmt.Errorf("--state: %w", err)}
				}
			}
			if limit < 1 {
				return usageError{fmt.Errorf("--limit: must be at least 1, not %d", limit)}
			}
			list, err := p.List(cmd.Context(), producer.ListOptions{State: st, Queue: queue, Limit: limit})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTYPE\tQUEUE\tSTATE\tACCOUNT\tDUE\tRETRIED\tLAST ERROR")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.Type, s.Queue, stateOf(s), s.Account,
					timeOr(s.Due, "at once"), s.Retried, oneLine(note(s), 80))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(list) == limit {
				fmt.Fprintf(cmd.ErrOrStderr(), "the first %d; --limit shows more\n", limit)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&state, "state", "", "only tasks in this state: "+stateNames())
	cmd.Flags().StringVar(&queue, "queue", "", "only tasks of this queue")
	cmd.Flags().IntVar(&limit, "limit", 100, "list at most this many tasks")
	return cmd
}

func retryCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "retry TASK_ID | --all-archived",
		Short: "Send archived tasks again",
		Example: `  enqueue retry 5c1b0d52-8d9e-5b71-a3c4-0e6f7a8b9c1d
  enqueue retry --all-archived`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) == 1) || len(args) > 1 {
				return usageError{errors.New("give one TASK_ID or --all-archived")}
			}
			if len(args) == 1 {
				return checkTaskID(args[0])
			}
			return nil
		},
		RunE: withProducer(func(cmd *cobra.Command, args []string, p *producer.Producer) error {
			if all {
				n, err := p.RetryAllArchived(cmd.Context())
				if err == nil || n > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%d archived tasks sent again\n", n)
				}
				return err
			}
			if err := p.Retry(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), args[0], "pending")
			return nil
		}),
	}
	cmd.Flags().BoolVar(&all, "all-archived", false, "send every archived task again")
	return cmd
}

// note is what the list says last of a task: what it waits for and
// until when, its last error, or when it was cancelled and with which
// group.
func note(s *producer.Status) string {
	if s.Wait != nil {
		return "waiting for " + s.Wait.Reason + " until " + timeOr(s.Wait.Until, "unknown")
	}
	if s.State != producer.StateCancelled {
		return s.LastError
	}
	if s.Group != "" {
		return "cancelled " + timeOr(s.CancelledAt, "") + " with group " + s.Group
	}
	return "cancelled " + timeOr(s.CancelledAt, "")
}

// oneLine shortens s to one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func limitsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "limits",
		Short:   "Show each account's rate limit: sends waiting for their slot, the next one, a provider's hold",
		Example: `  enqueue limits`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load()
			if err != nil {
				return err
			}
			limits, err := cfg.ParseRateLimits()
			if err != nil {
				return err
			}
			conn, err := cfg.RedisConnOpt()
			if err != nil {
				return err
			}
			rdb := conn.MakeRedisClient().(redis.UniversalClient)
			defer rdb.Close()
			l := ratelimit.New(rdb, limits)
			scopes, err := l.Accounts(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PROVIDER\tACCOUNT\tWAITING\tNEXT SLOT\tHELD BACK UNTIL")
			for _, scope := range scopes {
				provider, account, _ := strings.Cut(scope, ":")
				w, err := l.Waiting(cmd.Context(), provider, account)
				if err != nil {
					return err
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", provider, account, w.Sends, timeOr(w.Next, "-"), timeOr(w.BlockedUntil, "-"))
			}
			return tw.Flush()
		},
	}
}

// stateNames lists the states --state takes.
func stateNames() string {
	names := make([]string, len(producer.States))
	for i, s := range producer.States {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
