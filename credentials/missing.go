package credentials

import (
	"context"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/credentials/accountindex"
)

// StateMissing is an account that sends name and that the worker that
// took them does not have: they wait NO_ACCOUNT_GRACE for one that does.
const StateMissing = "missing"

// missingKey lists the accounts sends named that the worker taking them
// lacked: member provider/name, scored with when a worker last put a send
// back for it (unix ms). A send waiting for its account comes back at
// least every missingEvery, so an account not seen for missingSeen has no
// send waiting any more.
const (
	missingKey   = "punctual:credentials:missing"
	missingEvery = 30 * time.Second
	missingSeen  = 2 * missingEvery
	missingKept  = 24 * time.Hour
)

// noteMissing records that the send of ctx's task (asynq's task id) named
// an account this worker does not have, for `enqueue accounts`: a failure
// to write it is only logged.
func (m *Manager) noteMissing(ctx context.Context, provider, name string) {
	id, ok := asynq.GetTaskID(ctx)
	if !ok || m.rdb == nil {
		return
	}
	now := time.Now()
	key := waitingKey(provider, name)
	_, err := m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, missingKey, redis.Z{Score: float64(now.UnixMilli()), Member: accountindex.Field(provider, name)})
		p.ZRemRangeByScore(ctx, missingKey, "-inf", strconv.FormatInt(now.Add(-missingKept).UnixMilli(), 10))
		p.PExpire(ctx, missingKey, missingKept)
		p.ZAdd(ctx, key, redis.Z{Score: float64(now.Add(missingEvery).UnixMilli()), Member: id})
		p.PExpire(ctx, key, missingKept)
		return nil
	})
	if err != nil {
		m.log.Debug("could not count a send waiting for its account", zap.String("provider", provider), zap.String("account", name), zap.Error(err))
	}
}

// missing returns the accounts sends waited for lately that are not in
// index, the workers' accounts: no running worker has loaded them.
func missing(ctx context.Context, rdb redis.UniversalClient, index map[string]string) ([]Status, error) {
	since := strconv.FormatInt(time.Now().Add(-missingSeen).UnixMilli(), 10)
	fields, err := rdb.ZRangeByScore(ctx, missingKey, &redis.ZRangeBy{Min: since, Max: "+inf"}).Result()
	if err != nil {
		return nil, err
	}
	var list []Status
	for _, f := range fields {
		if _, ok := index[f]; ok {
			continue
		}
		provider, name, _, _ := accountindex.Parse(f, "")
		list = append(list, Status{Provider: provider, Name: name, Kind: "-", State: StateMissing,
			Reason: "sends name it and no worker that took them has it: they wait NO_ACCOUNT_GRACE for one that does, then are archived"})
	}
	return list, nil
}
