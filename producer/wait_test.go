package producer

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestWaitOfReadsTheWorkersWordsForAWait(t *testing.T) {
	t.Parallel()
	early := time.Date(2026, 12, 7, 12, 59, 59, 0, time.UTC) // asynq's whole second
	cases := []struct {
		name    string
		state   asynq.TaskState
		lastErr string
		want    *Wait
	}{
		{"window", asynq.TaskStateRetry, "outside its window: not before 2026-12-07T13:00:00.25Z (window)",
			&Wait{Reason: "window", Until: time.Date(2026, 12, 7, 13, 0, 0, 250e6, time.UTC)}},
		{"cap", asynq.TaskStateRetry, "not before 2026-12-07T13:00:00Z (recipient_cap)",
			&Wait{Reason: "recipient_cap", Until: time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)}},
		{"no account", asynq.TaskStateRetry, `no mateo account "acme" on this worker: waiting for a worker that has it`,
			&Wait{Reason: "no_account", Until: early}},
		{"a failure", asynq.TaskStateRetry, "mateo 503: unavailable", nil},
		{"archived with a wait's words", asynq.TaskStateArchived, "not before 2026-12-07T13:00:00Z (window)", nil},
	}
	for _, c := range cases {
		got := waitOf(&asynq.TaskInfo{State: c.state, LastErr: c.lastErr, NextProcessAt: early})
		switch {
		case (got == nil) != (c.want == nil):
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		case got != nil && (got.Reason != c.want.Reason || !got.Until.Equal(c.want.Until)):
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
