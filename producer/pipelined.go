package producer

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// pipelined is a Redis client whose scripts, the commands asynq enqueues
// with, go through the client's full-duplex autopipeliner: enqueues made
// at once stream on one connection, written and read at the same time,
// instead of each taking a connection and a round trip.
type pipelined struct {
	redis.UniversalClient
	ap *redis.AutoPipeliner
}

func (c pipelined) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return c.ap.EvalSha(ctx, sha, keys, args...)
}

func (c pipelined) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return c.ap.Eval(ctx, script, keys, args...)
}
