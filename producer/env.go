package producer

import (
	"fmt"

	"github.com/punctualhq/punctual/config"
)

// FromEnv returns a Producer configured from the environment exactly as
// the workers and the enqueue CLI read it, so that what it enqueues agrees
// with what they do: REDIS_URL (default redis://127.0.0.1:6379/0), or
// REDIS_CLUSTER_ADDRS, or REDIS_SENTINEL_ADDRS with REDIS_SENTINEL_MASTER;
// MAX_RETRY, RESULT_RETENTION, RATE_LIMITS, SEND_WINDOWS and QUEUE_SHARDS. The whole
// configuration is validated as the worker validates it: an error names
// the variable at fault and never repeats a secret. opts apply after the
// environment's. Close the Producer when done.
func FromEnv(opts ...Option) (*Producer, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	return FromConfig(cfg, opts...)
}

// FromConfig returns a Producer configured by cfg, as FromEnv does from
// the environment.
func FromConfig(cfg *config.Config, opts ...Option) (*Producer, error) {
	conn, err := cfg.RedisConnOpt()
	if err != nil {
		return nil, err
	}
	limits, err := cfg.ParseRateLimits()
	if err != nil {
		return nil, fmt.Errorf("RATE_LIMITS: %w", err)
	}
	windows, err := config.ParseSendWindows(cfg.SendWindows)
	if err != nil {
		return nil, fmt.Errorf("SEND_WINDOWS: %w", err)
	}
	all := append([]Option{WithProviders(cfg.Registry()), WithMaxRetry(cfg.MaxRetry), WithRetention(cfg.ResultRetention),
		WithRateLimits(limits), WithSendWindows(windows), WithQueueShards(cfg.QueueShards)}, opts...)
	return New(conn, all...), nil
}
