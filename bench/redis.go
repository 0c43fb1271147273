package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
)

// redisServer is a fresh redis-server of one row, on a loopback port.
type redisServer struct {
	conn asynq.RedisClientOpt
	rdb  *redis.Client
	stop func()
}

// startRedis starts a fresh redis-server keeping its files in a new temp
// directory. The embedded Redis is refused: its figures would mean nothing.
func startRedis(e *env) (*redisServer, error) {
	dir, err := os.MkdirTemp(e.tmp, "redis")
	if err != nil {
		return nil, err
	}
	s, err := redistest.StartServer(dir)
	if err != nil {
		return nil, err
	}
	if s.Embedded {
		s.Stop()
		return nil, errors.New("no redis-server installed: the bench needs a real one")
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	return &redisServer{
		conn: asynq.RedisClientOpt{Addr: s.Addr},
		rdb:  rdb,
		stop: func() { _ = rdb.Close(); s.Stop(); _ = os.RemoveAll(dir) },
	}, nil
}

// url is the server as REDIS_URL.
func (r *redisServer) url() string { return "redis://" + r.conn.Addr + "/0" }

// flush empties the server, freeing the memory before it returns.
func (r *redisServer) flush(ctx context.Context) error {
	return r.rdb.Do(ctx, "FLUSHALL", "SYNC").Err()
}

// usedMemory returns INFO memory's used_memory, in bytes.
func (r *redisServer) usedMemory(ctx context.Context) (int64, error) {
	info, err := r.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("INFO memory has no used_memory")
}

// usage is the work done so far by Redis.
type usage struct {
	// commands counts the commands Redis ran, those run by scripts
	// included, and INFO, which usage itself runs, left out.
	commands int64
	// redisCPU is redis-server's CPU time, user and system.
	redisCPU time.Duration
	// stats are commandstats' lines, by command name.
	stats map[string]cmdStat
}

// usage samples the work done so far.
func (r *redisServer) usage(ctx context.Context) (usage, error) {
	var u usage
	info, err := r.rdb.Info(ctx, "commandstats", "cpu").Result()
	if err != nil {
		return u, err
	}
	u.stats = commandStats(info)
	for _, s := range u.stats {
		u.commands += int64(s.calls)
	}
	for line := range strings.Lines(info) {
		line = strings.TrimSpace(line)
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				secs, _ := strconv.ParseFloat(v, 64)
				u.redisCPU += time.Duration(secs * float64(time.Second))
			}
		}
	}
	return u, nil
}

// finishCalls is how many Redis commands finished sends.
const finishCalls = 2

// finished returns how many of queue's tasks asynq has finished and how
// many of its attempts failed, from its counters (asynq v0.26
// internal/rdb): processed counts Done, a Retry that is a failure and
// Archive; failed the last two. So finished sends are processed less
// failed, whether or not a task is kept after: ours keeps none in asynq
// (its record of the send is its own key), and neither does the
// reference. A wait that is no failure (a provider's rate limit) counts
// in neither. It sends finishCalls commands.
func (r *redisServer) finished(ctx context.Context, queue string) (done, failed int, err error) {
	var processed, failures *redis.StringCmd
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		processed = p.Get(ctx, "asynq:{"+queue+"}:processed")
		failures = p.Get(ctx, "asynq:{"+queue+"}:failed")
		return nil
	})
	if errors.Is(err, redis.Nil) { // none processed or failed yet
		err = nil
	}
	p, _ := processed.Int()
	failed, _ = failures.Int()
	return p - failed, failed, err
}

// waitFor polls done every 50 ms until it is true, fails, or within passes.
func waitFor(ctx context.Context, within time.Duration, what string, done func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}
