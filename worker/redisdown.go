package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/punctualhq/punctual/internal/asynqadapter"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/logging"
)

// While Redis cannot be reached, the worker says so in one line naming
// the address and the variable that set it, then again every remindEvery,
// and once more when Redis answers again; asynq's own complaints, a dozen
// different lines from its loops, are debug detail meanwhile. Redis is
// pinged every pingEvery, each ping bounded by pingTimeout.
// asynq's calls that failed before Redis answered again are still said
// for a while after: muted for afterOutage.
const (
	pingEvery   = time.Second
	pingTimeout = 2 * time.Second
	remindEvery = logging.Repeats
	afterOutage = 5 * time.Second
)

// redisState knows whether Redis answers, and says when that changes.
type redisState struct {
	rdb   redis.UniversalClient
	log   *zap.Logger
	where string // "127.0.0.1:6379 (REDIS_URL)"
	down  atomic.Bool
	mu    sync.Mutex // orders the lines below
	since time.Time  // the outage began
	told  time.Time  // the outage was last said
	back  time.Time  // the last outage ended
}

func newRedisState(rdb redis.UniversalClient, conn asynq.RedisConnOpt, log *zap.Logger) *redisState {
	return &redisState{rdb: rdb, log: log, where: redisWhere(conn)}
}

// redisWhere names where conn connects and the variable that says so;
// never the password, which REDIS_URL may carry.
func redisWhere(conn asynq.RedisConnOpt) string {
	switch c := conn.(type) {
	case asynq.RedisClientOpt:
		return c.Addr + " (REDIS_URL)"
	case asynq.RedisClusterClientOpt:
		return strings.Join(c.Addrs, ",") + " (REDIS_CLUSTER_ADDRS)"
	case asynq.RedisFailoverClientOpt:
		return strings.Join(c.SentinelAddrs, ",") + " (REDIS_SENTINEL_ADDRS, master " + c.MasterName + ")"
	case asynqadapter.ConnOpt:
		return redisWhere(c.RedisConnOpt)
	}
	return "its address"
}

// check pings Redis, says so when it stops or starts answering (and
// reminds while it does not), and reports whether it answered.
func (s *redisState) check(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	err := s.rdb.Ping(pctx).Err()
	cancel()
	if err != nil && ctx.Err() != nil {
		return !s.down.Load() // the worker is stopping: nothing learnt
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	switch {
	case err != nil && !s.down.Load():
		s.since, s.told = now, now
		s.down.Store(true)
		s.log.Error(fmt.Sprintf("cannot reach Redis at %s: %v", s.where, err))
	case err != nil && now.Sub(s.told) >= remindEvery:
		s.told = now
		s.log.Error(fmt.Sprintf("still cannot reach Redis at %s: %v", s.where, err), zap.Duration("down_for", now.Sub(s.since).Round(time.Second)))
	case err == nil && s.down.Load():
		s.back = now
		s.down.Store(false)
		s.log.Info("Redis answers again at "+s.where, zap.Duration("down_for", now.Sub(s.since).Round(time.Second)))
	}
	return err == nil
}

// watch checks Redis every pingEvery until ctx ends.
func (s *redisState) watch(ctx context.Context) {
	tick := time.NewTicker(pingEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.check(ctx)
		}
	}
}

// muted reports whether asynq's complaints are to be muted: while Redis
// is down, checking at once unless it is known to be (asynq's loops
// complain before the next ping would tell, and a complaint is muted only
// once the outage has been said), and for afterOutage after.
func (s *redisState) muted() bool {
	if s.down.Load() {
		return true
	}
	s.mu.Lock()
	recent := !s.back.IsZero() && time.Since(s.back) < afterOutage
	s.mu.Unlock()
	return recent || !s.check(context.Background())
}

// WaitForRedis returns once Redis answers at conn, saying while it does
// not (see redisState), or with ctx's error when ctx ends first: a worker
// started before its Redis waits for it rather than failing in a dozen
// ways. Meanwhile httpAddr (HTTP_ADDR, if any) answers /healthz, so that a
// liveness probe does not restart a worker that only waits, and /readyz
// says it is not ready.
func WaitForRedis(ctx context.Context, conn asynq.RedisConnOpt, httpAddr string, log *zap.Logger) error {
	rdb, ok := conn.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return errors.New("worker: unexpected Redis client")
	}
	defer rdb.Close()
	s := newRedisState(rdb, conn, log)
	if s.check(ctx) {
		return nil
	}
	if httpAddr != "" {
		defer serveWaiting(httpAddr, s.where, log).Close()
	}
	tick := time.NewTicker(pingEvery)
	defer tick.Stop()
	for !s.check(ctx) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// serveWaiting answers on addr, until closed, for a worker waiting for
// Redis at where: alive, not ready. A port it cannot have is left to the
// worker to report when it starts.
func serveWaiting(addr, where string, log *zap.Logger) io.Closer {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		log.Debug("no health checks while waiting for Redis", zap.Error(err))
		return io.NopCloser(nil)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(rw, "ok: waiting for Redis\n")
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		http.Error(rw, "waiting for Redis at "+where, http.StatusServiceUnavailable)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return closers{srv, l} // the listener too: Close may come before Serve has it
}

// closers closes each of its closers.
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
