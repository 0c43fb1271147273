// Command enqueue schedules sends and reports on them: the operator's side
// of the queue. It reads the same environment variables as the worker
// (REDIS_URL, MAX_RETRY, RESULT_RETENTION...).
//
// Exit status: 0 success; 1 the run failed (Redis unreachable, unreadable
// input, unknown task); 2 invalid input (a rejected envelope, bad usage).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// usageError is bad input: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func (e usageError) Unwrap() error { return e.err }

func main() {
	root := &cobra.Command{
		Use:           "enqueue",
		Short:         "Schedule Mateo and LeadConnector sends and follow them",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(sendCommand(), statusCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "enqueue:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
