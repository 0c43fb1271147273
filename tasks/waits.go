package tasks

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Waits keeps, to the millisecond, the time before which a task must not
// be tried again: asynq keeps retry times in whole seconds, so the worker
// has asynq bring the task back a little early and holds it until then.
type Waits interface {
	// Until returns the time the task must wait for; zero when none.
	Until(ctx context.Context, taskID string) (time.Time, error)
	// Set records that the task must wait until t.
	Set(ctx context.Context, taskID string, t time.Time) error
}

// RedisWaits keeps waits in Redis, one key per waiting task that expires
// an hour after its wait.
type RedisWaits struct {
	Client redis.UniversalClient
}

var _ Waits = RedisWaits{}

func waitKey(taskID string) string { return "punctual:wait:" + taskID }

// Until returns the time the task must wait for; zero when none.
func (w RedisWaits) Until(ctx context.Context, taskID string) (time.Time, error) {
	ms, err := w.Client.Get(ctx, waitKey(taskID)).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

// Set records that the task must wait until t.
func (w RedisWaits) Set(ctx context.Context, taskID string, t time.Time) error {
	ttl := time.Until(t) + time.Hour
	return w.Client.Set(ctx, waitKey(taskID), strconv.FormatInt(t.UnixMilli(), 10), ttl).Err()
}
