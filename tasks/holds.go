package tasks

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Holds keeps what a worker needs to hold a task to the millisecond: the
// end of a wait a provider asked for (asynq keeps retry times in whole
// seconds, so the task comes back a little early and is held until then),
// and whether the task was cancelled while it was held.
type Holds interface {
	// Until returns the time the task must wait for; zero when none.
	Until(ctx context.Context, taskID string) (time.Time, error)
	// SetUntil records that the task must wait until t.
	SetUntil(ctx context.Context, taskID string, t time.Time) error
	// Cancel asks the worker holding the task not to send it.
	Cancel(ctx context.Context, taskID string) error
	// Cancelled reports whether Cancel was asked.
	Cancelled(ctx context.Context, taskID string) (bool, error)
}

// RedisHolds keeps holds in Redis: a key per task, expiring on its own.
type RedisHolds struct {
	Client redis.UniversalClient
}

var _ Holds = RedisHolds{}

const cancelTTL = 10 * time.Minute

func waitKey(taskID string) string   { return "punctual:wait:" + taskID }
func cancelKey(taskID string) string { return "punctual:cancel:" + taskID }

// Until returns the time the task must wait for; zero when none.
func (h RedisHolds) Until(ctx context.Context, taskID string) (time.Time, error) {
	ms, err := h.Client.Get(ctx, waitKey(taskID)).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

// SetUntil records that the task must wait until t, for an hour past t.
func (h RedisHolds) SetUntil(ctx context.Context, taskID string, t time.Time) error {
	return h.Client.Set(ctx, waitKey(taskID), strconv.FormatInt(t.UnixMilli(), 10), time.Until(t)+time.Hour).Err()
}

// Cancel asks the worker holding the task not to send it.
func (h RedisHolds) Cancel(ctx context.Context, taskID string) error {
	return h.Client.Set(ctx, cancelKey(taskID), "1", cancelTTL).Err()
}

// Cancelled reports whether Cancel was asked.
func (h RedisHolds) Cancelled(ctx context.Context, taskID string) (bool, error) {
	n, err := h.Client.Exists(ctx, cancelKey(taskID)).Result()
	return n > 0, err
}
