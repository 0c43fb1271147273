// Command enqueue schedules sends and reports on them: the operator's side
// of the queue. It reads the same environment variables as the worker
// (REDIS_URL, MAX_RETRY, RESULT_RETENTION...).
//
// Exit status: 0 success; 1 the run failed (Redis unreachable, unreadable
// input, unknown task); 2 invalid input (a rejected envelope, bad usage,
// an argument that is no task id).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/internal/version"
	"github.com/punctualhq/punctual/logging"
)

// usageError is bad input: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func (e usageError) Unwrap() error { return e.err }

// localError is a failure of the run that Redis has no part in, such as
// an unreadable file: exit status 1, told as it is, whatever Redis's
// state.
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }

func (e localError) Unwrap() error { return e.err }

func main() {
	redis.SetLogger(logging.Redis{L: zap.NewNop().Sugar()})
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "enqueue",
		Short:         "Schedule Mateo and LeadConnector sends and follow them",
		SilenceUsage:  true,
		SilenceErrors: true,
		// The distance within which an unknown command gets a suggestion.
		SuggestionsMinimumDistance: 2,
		Version:                    version.Line("enqueue"),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.Args = cobra.ArbitraryArgs // a word that is no command reaches noCommand, to exit 2
	root.RunE = noCommand
	root.AddCommand(sendCommand(), batchCommand(), statusCommand(), cancelCommand(), rescheduleCommand(), listCommand(), retryCommand(), limitsCommand(), accountsCommand())
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := explainRedis(ctx, root.ExecuteContext(ctx))
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "enqueue:", err)
	if errors.As(err, &usageError{}) {
		return 2
	}
	return 1
}

// noCommand runs when the first word names no command: bad usage.
func noCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(cmd.ErrOrStderr(), cmd.UsageString())
		return usageError{errors.New("no command given")}
	}
	hint := "enqueue --help lists the commands"
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = "did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{fmt.Errorf("unknown command %q: %s", args[0], hint)}
}
