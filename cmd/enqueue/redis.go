package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/config"
)

// pingTimeout bounds the look at Redis made after a command failed.
const pingTimeout = 3 * time.Second

// explainRedis names Redis and the address in use when err came from
// Redis: the errors of the libraries underneath say "SADD failed" or a
// bare "i/o timeout", which does not tell an operator what to check. When
// Redis does not answer a ping after the failure, the ping's error is the
// one told (the command's own error is then about the same outage). Other
// errors, and those of bad usage or of the run's own files, are returned
// as they are.
func explainRedis(ctx context.Context, err error) error {
	if err == nil || errors.As(err, &usageError{}) || errors.As(err, &localError{}) {
		return err
	}
	cfg, cfgErr := config.Load()
	if cfgErr != nil {
		return err
	}
	conn, cfgErr := cfg.RedisConnOpt()
	if cfgErr != nil {
		return err
	}
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pingTimeout)
	defer cancel()
	pingErr := rdb.Ping(ctx).Err()
	switch {
	case errors.Is(pingErr, context.DeadlineExceeded):
		err = fmt.Errorf("no answer within %s", pingTimeout)
	case pingErr != nil:
		err = pingErr
	case !fromRedis(err):
		return err
	}
	var refusal redis.Error
	if errors.As(err, &refusal) {
		return fmt.Errorf("%s refused: %w", redisAt(conn), err)
	}
	return fmt.Errorf("cannot reach %s: %w", redisAt(conn), err)
}

// fromRedis tells whether err is Redis's answer or a failure to talk to it.
func fromRedis(err error) bool {
	var (
		netErr   net.Error
		redisErr redis.Error
	)
	switch {
	case errors.Is(err, redis.Nil):
		return false
	case errors.As(err, &redisErr), errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return false
}

// redisAt names the Redis of conn by its addresses and the variable that
// chose them: never by its credentials.
func redisAt(conn asynq.RedisConnOpt) string {
	switch c := conn.(type) {
	case asynq.RedisClusterClientOpt:
		return fmt.Sprintf("the Redis Cluster at %s (REDIS_CLUSTER_ADDRS)", strings.Join(c.Addrs, ","))
	case asynq.RedisFailoverClientOpt:
		return fmt.Sprintf("Redis master %q via the Sentinels at %s (REDIS_SENTINEL_ADDRS)", c.MasterName, strings.Join(c.SentinelAddrs, ","))
	case asynq.RedisClientOpt:
		return fmt.Sprintf("Redis at %s (REDIS_URL)", c.Addr)
	}
	return "Redis"
}
