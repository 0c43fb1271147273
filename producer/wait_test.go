package producer

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/punctualhq/punctual/tasks"
)

func TestWaitOfReadsTheWorkersWordsForAWait(t *testing.T) {
	t.Parallel()
	whole := time.Date(2026, 12, 7, 12, 59, 59, 0, time.UTC) // asynq's whole second, early
	exact := time.Date(2026, 12, 7, 13, 0, 0, 250e6, time.UTC)
	soon := time.Date(2026, 12, 7, 12, 59, 58, 400e6, time.UTC) // a wait asynq rounds up to whole
	cases := []struct {
		name    string
		state   asynq.TaskState
		lastErr string
		want    *Wait
	}{
		{"window", asynq.TaskStateRetry, tasks.WaitWords("window", exact) + "outside its window",
			&Wait{Reason: "window", Until: exact}},
		{"no account", asynq.TaskStateRetry, tasks.WaitWords("no_account", soon) + `no mateo account "acme" on this worker: waiting for a worker that has it`,
			&Wait{Reason: "no_account", Until: whole}},
		{"a failure", asynq.TaskStateRetry, "mateo 503: unavailable", nil},
		{"a failure whose provider text ends as a wait would", asynq.TaskStateRetry, "mateo 503: unavailable " + tasks.WaitWords("window", exact), nil},
		{"archived with a wait's words", asynq.TaskStateArchived, tasks.WaitWords("window", exact) + "outside its window", nil},
	}
	for _, c := range cases {
		got := waitOf(&asynq.TaskInfo{State: c.state, LastErr: c.lastErr, NextProcessAt: whole})
		switch {
		case (got == nil) != (c.want == nil):
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		case got != nil && (got.Reason != c.want.Reason || !got.Until.Equal(c.want.Until)):
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
