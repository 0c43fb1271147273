package metrics

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/punctualhq/punctual/internal/asynqadapter"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// redisTimeout bounds each Redis command of a scrape, well inside
// Prometheus's default scrape timeout (10 s), so an unreachable Redis
// reads as down instead of failing the whole scrape.
const redisTimeout = 2 * time.Second

// asynqServers is asynq's sorted set of its live servers.
const asynqServers = asynqadapter.ServersKey

var (
	redisUpDesc = prometheus.NewDesc("punctual_redis_up",
		"1 when this worker's Redis answered a PING during the scrape, 0 when not: a worker that cannot reach Redis sends nothing; alert on 0.",
		nil, nil)
	workersDesc = prometheus.NewDesc("punctual_workers",
		"Worker processes (host and pid) with a live asynq server on this Redis, as every replica sees them alike: take max() over instances, not sum(). Absent while Redis does not answer.",
		nil, nil)
)

// redisCollector reads punctual_redis_up and punctual_workers from Redis
// at each scrape, so both are as fresh as the scrape and need no goroutine.
type redisCollector struct {
	rdb redis.UniversalClient
}

// NewRedisCollector returns a collector of punctual_redis_up (whether rdb
// answers) and punctual_workers (the worker processes asynq lists as
// alive on it). The queue collector says nothing when Redis is down, and
// says the same on every replica, so neither tells by itself that Redis is
// unreachable or that no worker takes tasks.
func NewRedisCollector(rdb redis.UniversalClient) prometheus.Collector {
	return redisCollector{rdb: rdb}
}

// Describe sends the two descriptors.
func (c redisCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- redisUpDesc
	ch <- workersDesc
}

// Collect pings Redis and, when it answers, counts the live workers.
func (c redisCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		ch <- prometheus.MustNewConstMetric(redisUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(redisUpDesc, prometheus.GaugeValue, 1)
	// Only the set's keys: asynq's Inspector.Servers also reads every task
	// each server holds, thousands a worker, at each scrape.
	keys, err := c.rdb.ZRangeByScore(ctx, asynqServers, &redis.ZRangeBy{
		Min: strconv.FormatInt(time.Now().Unix(), 10), Max: "+inf",
	}).Result()
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(processes(keys)))
}

// processes counts the distinct host:pid of asynq server keys: a worker
// runs up to four asynq servers (one per 16 send slots), all one process.
func processes(keys []string) int {
	seen := map[string]bool{}
	for _, k := range keys {
		id, ok := strings.CutPrefix(k, asynqServers+":{")
		if !ok {
			continue
		}
		id = strings.TrimSuffix(id, "}")
		if i := strings.LastIndexByte(id, ':'); i > 0 {
			seen[id[:i]] = true
		}
	}
	return len(seen)
}
