// Package worker runs the sending side: asynq servers whose handlers send
// due tasks to Mateo and LeadConnector with the configured accounts,
// retry policy and queues, until its context ends.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/internal/asynqadapter"
	"github.com/punctualhq/punctual/logging"
	"github.com/punctualhq/punctual/metrics"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/send"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/window"
)

// Scheduling: asynq checks for due tasks and, when its queues are empty,
// for new ones. Its defaults (5 s and 1 s) make sends late by seconds.
// Tasks come a little before their time and are held until it, outside
// the send slots: holdCapacity bounds how many a worker holds at once.
const (
	delayedTaskCheckInterval = 100 * time.Millisecond
	taskCheckInterval        = 50 * time.Millisecond
	holdCapacity             = 2048
)

// Worker sends due tasks.
type Worker struct {
	srvs     []*asynq.Server // the first checks for due tasks; see asynqadapter.Servers
	mux      *asynq.ServeMux
	log      *zap.Logger
	rdb      redis.UniversalClient
	registry *prometheus.Registry
	cfg      Config
	conn     asynq.RedisConnOpt
	creds    *credentials.Manager
	redis    *redisState
	// health and monitor listen on HTTP_ADDR and MONITOR_ADDR (nil when off).
	health, monitor net.Listener
	// stopping is closed when Run stops taking tasks (send.Handler.Stopping).
	stopping chan struct{}
}

// Option configures what New builds beyond the configuration.
type Option func(*options)

type options struct {
	tracer trace.TracerProvider
}

// WithTracerProvider makes a span of each send's request with tp; nil (the
// default) traces nothing. The trace context goes with the requests when
// the transports propagate it (tracing.Propagate).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}

// New builds a worker from cfg.
func New(cfg Config, log *zap.Logger, opts ...Option) (*Worker, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	conn := cfg.Redis
	rdb, ok := conn.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, errors.New("worker: unexpected Redis client")
	}
	reg := cfg.Providers
	if reg == nil {
		reg = builtin.Registry()
	}
	if err := reg.Check(); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	cc := cfg.Credentials
	cc.Redis, cc.Logger, cc.Providers = rdb, log.Named("credentials"), reg.Names()
	creds, err := credentials.New(cc)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	for _, p := range reg.Names() {
		if names := creds.Names(p); len(names) > 0 {
			log.Info("accounts", zap.String("provider", p), zap.Int("count", len(names)))
		} else {
			log.Warn("no accounts: this worker cannot send for this provider; its sends wait NO_ACCOUNT_GRACE for a worker that can, then are archived", zap.String("provider", p), zap.Duration("no_account_grace", cfg.NoAccountGrace))
		}
	}
	for p, t := range cfg.Transports {
		if t.Timeout() >= cfg.ShutdownTimeout {
			log.Warn("SHUTDOWN_TIMEOUT is not longer than a request to this provider may take: a stop can cut a request off, and its send goes again (once more to a provider without idempotency, unless AT_MOST_ONCE names it)",
				zap.String("provider", p), zap.Duration("request_timeout", t.Timeout()), zap.Duration("shutdown_timeout", cfg.ShutdownTimeout))
		}
	}
	queues, err := shardsTaken(rdb, cfg.Queues, cfg.QueueShards)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	if len(queues) > len(cfg.Queues) {
		log.Info("queue shards", zap.Int("queue_shards", max(cfg.QueueShards, 1)), zap.Int("asynq_queues", len(queues)))
	}
	registry := prometheus.NewRegistry()
	mux := asynq.NewServeMux()
	stopping := make(chan struct{})
	read := newPrereads()
	h := &send.Handler{
		Providers: reg, Transports: cfg.Transports, Tokens: creds, Policy: cfg.Policy, Logger: log,
		Marks: preloaded{state.Store{Client: rdb}, read}, Retention: cfg.ResultRetention, Groups: state.Groups{Client: rdb}, Sends: cfg.Concurrency, AtMostOnce: map[string]bool{},
		NoAccountGrace: cfg.NoAccountGrace, Stopping: stopping,
		Metrics: metrics.New(registry, asynq.NewInspectorFromRedisClient(rdb), queues, creds.Known),
	}
	registry.MustRegister(creds, metrics.NewRedisCollector(rdb), metrics.NewPatchCollector(asynqadapter.Applied))
	if o.tracer != nil {
		h.Tracer = o.tracer.Tracer("github.com/punctualhq/punctual/send")
	}
	if limiter := ratelimit.New(rdb, cfg.RateLimits); limiter != nil {
		h.Limiter = limiter
	}
	if caps := ratelimit.NewCaps(rdb, cfg.RecipientCaps); caps != nil {
		h.Caps = caps
	}
	for _, p := range cfg.AtMostOnce {
		h.AtMostOnce[p] = true
	}
	// Named even when empty: the worker knows every name there is.
	h.Windows = tasks.Windows{Named: map[string]window.Spec{}, Account: creds.Window}
	maps.Copy(h.Windows.Named, cfg.SendWindows)
	if err := send.Register(mux, h); err != nil {
		return nil, err
	}
	conn = asynqadapter.ConnOpt{RedisConnOpt: conn, Options: asynqadapter.Options{
		Retention: cfg.ArchiveRetention, MarkKeys: state.MarkKeys, PreRead: read.preRead, Shards: siblings(queues), Logger: log.Named("asynq"),
		WriteResult: func(ctx context.Context, pipe redis.Pipeliner, taskID string, completion []byte) redis.Cmder {
			return state.WriteCompletion(ctx, pipe, taskID, completion, cfg.ResultRetention)
		},
	}}
	redisState := newRedisState(rdb, cfg.Redis, log)
	// One, so a complaint is said once for all.
	asynqLog := logging.Asynq{L: logging.Quiet(log.Named("asynq")).Sugar(), Muted: redisState.muted}
	// Several servers, each a loop taking tasks: see asynqadapter.Servers.
	srvs := asynqadapter.Servers(conn, asynq.Config{
		Concurrency:              cfg.Concurrency + holdCapacity,
		Queues:                   queues,
		RetryDelayFunc:           cfg.Backoff.RetryDelay,
		IsFailure:                send.IsFailure,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: delayedTaskCheckInterval,
		TaskCheckInterval:        taskCheckInterval,
		Logger:                   asynqLog,
	}, cfg.Concurrency)
	w := &Worker{srvs: srvs, mux: mux, log: log, rdb: rdb, registry: registry, cfg: cfg, conn: conn, creds: creds, redis: redisState, stopping: stopping}
	if w.health, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("health address: %w", err)
	}
	if cfg.MonitorAddr != "" {
		if w.monitor, err = net.Listen("tcp", cfg.MonitorAddr); err != nil {
			_ = w.health.Close()
			return nil, fmt.Errorf("monitor address: %w", err)
		}
	}
	return w, nil
}

// HealthAddr is the address /healthz, /readyz and /metrics are served on.
func (w *Worker) HealthAddr() string { return w.health.Addr().String() }

// MonitorAddr is the address the web UI is served on; "" when it is off.
func (w *Worker) MonitorAddr() string {
	if w.monitor == nil {
		return ""
	}
	return w.monitor.Addr().String()
}

// Run takes and sends tasks until ctx ends, then stops taking tasks, lets
// in-flight sends finish (bounded by SHUTDOWN_TIMEOUT) and returns.
func (w *Worker) Run(ctx context.Context) error {
	defer w.rdb.Close()
	defer w.serveHealth().Close()
	if w.monitor != nil {
		defer w.serveMonitor().Close()
	}
	for i, srv := range w.srvs {
		if err := srv.Start(w.mux); err != nil {
			shutdown(w.srvs[:i])
			return fmt.Errorf("worker: %w", err)
		}
	}
	w.log.Info("worker started", zap.Int("loops", len(w.srvs)))
	watchCtx, stopWatching := context.WithCancel(ctx)
	var watching sync.WaitGroup
	watching.Go(func() { w.creds.Watch(watchCtx) })
	watching.Go(func() { w.redis.watch(watchCtx) })
	defer func() { stopWatching(); watching.Wait() }()
	<-ctx.Done()
	w.log.Info("stopping: finishing in-flight sends")
	close(w.stopping)
	shutdown(w.srvs)
	w.log.Info("worker stopped")
	return nil
}

// shutdown stops srvs at once, each finishing its sends in flight within
// SHUTDOWN_TIMEOUT, and returns when all have.
func shutdown(srvs []*asynq.Server) {
	var wg sync.WaitGroup
	for _, srv := range srvs {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
}

// serveHealth serves /healthz (the process is alive), /readyz (Redis
// answers) and /metrics (Prometheus) on HTTP_ADDR.
func (w *Worker) serveHealth() io.Closer {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(rw, "ok\n") })
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := w.rdb.Ping(ctx).Err(); err != nil {
			http.Error(rw, "redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(rw, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(w.health) }()
	w.log.Info("serving health checks", zap.String("addr", w.HealthAddr()))
	return srv
}
