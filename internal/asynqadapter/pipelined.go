package asynqadapter

// An app's enqueues stream on one connection.
//
// asynq v0.26: Client.Enqueue runs a script (rdb.EnqueueUnique,
// rdb.Schedule...: internal/rdb/rdb.go) through the Redis client it was
// given, each call taking a connection and a round trip.
//
// We change: the scripts, the commands asynq enqueues with, go through the
// client's full-duplex autopipeliner: enqueues made at once stream on one
// connection, written and read at the same time.
//
// We recognise nothing: every Eval and EvalSha goes through the
// autopipeliner, whatever the script. PipelinedEnqueue counts them.

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Pipelined returns c, its scripts sent through its autopipeliner; c
// itself when it has none.
func Pipelined(c redis.UniversalClient) redis.UniversalClient {
	ap, err := c.AutoPipelineWithOptions(&redis.AutoPipelineOptions{FullDuplex: true})
	if err != nil {
		return c
	}
	return pipelined{c, ap}
}

type pipelined struct {
	redis.UniversalClient
	ap *redis.AutoPipeliner
}

func (c pipelined) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	patches[PipelinedEnqueue].hit()
	return c.ap.EvalSha(ctx, sha, keys, args...)
}

func (c pipelined) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	patches[PipelinedEnqueue].hit()
	return c.ap.Eval(ctx, script, keys, args...)
}
