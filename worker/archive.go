package worker

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// asynq's archive scripts keep each queue's archive to its newest 10,000
// tasks and its last 90 days, deleting the others for good: a refused send
// would vanish with nobody told. They take both limits as arguments, and
// keptArchive, the Redis client the worker gives asynq, rewrites them:
// nothing is trimmed by count, and by age only past the retention.
const (
	asynqArchiveSize = 10000
	asynqArchiveAge  = 90 * 24 * time.Hour
)

// keptArchive is a Redis client through which asynq keeps every archived
// task for retention.
type keptArchive struct {
	redis.UniversalClient
	retention time.Duration
}

// keptArchiveOpt makes keptArchive clients, for asynq's server and the monitor.
type keptArchiveOpt struct {
	asynq.RedisConnOpt
	retention time.Duration
}

// MakeRedisClient returns a keptArchive client.
func (o keptArchiveOpt) MakeRedisClient() any {
	return keptArchive{o.RedisConnOpt.MakeRedisClient().(redis.UniversalClient), o.retention}
}

func (c keptArchive) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return c.UniversalClient.EvalSha(ctx, sha, keys, c.limits(keys, args)...)
}

func (c keptArchive) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return c.UniversalClient.Eval(ctx, script, keys, c.limits(keys, args)...)
}

// limits returns args with asynq's archive limits replaced, when the
// script archives: a key of it is an archive, and its arguments hold the
// cutoff (a Unix time 90 days ago) followed by the size limit.
func (c keptArchive) limits(keys []string, args []any) []any {
	if !archives(keys) {
		return args
	}
	now := time.Now()
	for i := 1; i < len(args); i++ {
		size, ok := args[i].(int)
		cutoff, isTime := args[i-1].(int64)
		if !ok || !isTime || size != asynqArchiveSize || math.Abs(float64(cutoff-now.Add(-asynqArchiveAge).Unix())) > 7200 {
			continue
		}
		out := append([]any(nil), args...)
		out[i-1], out[i] = now.Add(-c.retention).Unix(), math.MaxInt32
		return out
	}
	return args
}

func archives(keys []string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, "asynq:{") && strings.HasSuffix(k, "}:archived") {
			return true
		}
	}
	return false
}
