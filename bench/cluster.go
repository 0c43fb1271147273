package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/tasks"
)

// clusterMasters is how many masters the bench's Redis Cluster has.
const clusterMasters = 3

// shardAccounts is how many Mateo accounts the sharded drains' sends come
// from: a send's shard is its account's, so the accounts must be many for
// the shards to share the work.
const shardAccounts = 300

// redisTarget is where a sharded drain's sends go: one redis-server or
// the masters of a Cluster, each with a client of its own, which the bench
// asks for counters and INFO directly so that its own commands land
// where it can subtract them.
type redisTarget struct {
	nodes []*redis.Client
	addrs []string
	// conn is the connection the producer enqueues through.
	conn asynq.RedisConnOpt
	// env is the worker's environment naming the Redis.
	env map[string]string
	// nodeOf is the index in nodes of the node that keeps queue's keys.
	nodeOf func(ctx context.Context, queue string) (int, error)
	stop   func()
}

// singleTarget is a fresh redis-server.
func singleTarget(e *env) (*redisTarget, error) {
	r, err := startRedis(e)
	if err != nil {
		return nil, err
	}
	return &redisTarget{
		nodes:  []*redis.Client{r.rdb},
		addrs:  []string{r.conn.Addr},
		conn:   r.conn,
		env:    map[string]string{"REDIS_URL": r.url()},
		nodeOf: func(context.Context, string) (int, error) { return 0, nil },
		stop:   r.stop,
	}, nil
}

// startCluster starts a Redis Cluster of clusterMasters masters, no
// replicas, the hash slots split evenly in ranges, as redis-cli --cluster
// create makes it (redistest.StartClusterServers), and returns it once
// every node reports cluster_state:ok.
func startCluster(e *env) (*redisTarget, error) {
	dir, err := os.MkdirTemp(e.tmp, "cluster")
	if err != nil {
		return nil, err
	}
	c, err := redistest.StartClusterServers(dir, false)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	clients := make([]*redis.Client, len(c.Addrs))
	for i, addr := range c.Addrs {
		clients[i] = redis.NewClient(&redis.Options{Addr: addr})
	}
	return &redisTarget{
		nodes: clients,
		addrs: c.Addrs,
		conn:  asynq.RedisClusterClientOpt{Addrs: c.Addrs},
		env:   map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(c.Addrs, ",")},
		nodeOf: func(ctx context.Context, queue string) (int, error) {
			slot, err := clients[0].ClusterKeySlot(ctx, "{"+queue+"}").Result()
			if err != nil {
				return 0, err
			}
			for i := range clusterMasters {
				if lo, hi := slotRange(i); int(slot) >= lo && int(slot) <= hi {
					return i, nil
				}
			}
			return 0, fmt.Errorf("slot %d of queue %s: no master", slot, queue)
		},
		stop: func() {
			for _, rc := range clients {
				_ = rc.Close()
			}
			c.Stop()
			_ = os.RemoveAll(dir)
		},
	}, nil
}

// slotRange is the hash slots master i of the bench's Cluster serves.
func slotRange(i int) (lo, hi int) {
	return i * 16384 / clusterMasters, (i+1)*16384/clusterMasters - 1
}

// flush empties every node, freeing the memory before it returns.
func (t *redisTarget) flush(ctx context.Context) error {
	for i, c := range t.nodes {
		if err := c.Do(ctx, "FLUSHALL", "SYNC").Err(); err != nil {
			return fmt.Errorf("FLUSHALL on %s: %w", t.addrs[i], err)
		}
	}
	return nil
}

// calls returns, by node, the commands Redis has run so far (INFO
// commandstats' calls, those run by scripts included, INFO left out), and
// commandstats' lines summed over the nodes.
func (t *redisTarget) calls(ctx context.Context) ([]float64, map[string]cmdStat, error) {
	out := make([]float64, len(t.nodes))
	sum := map[string]cmdStat{}
	for i, c := range t.nodes {
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			return nil, nil, fmt.Errorf("INFO commandstats on %s: %w", t.addrs[i], err)
		}
		for name, s := range commandStats(info) {
			out[i] += s.calls
			all := sum[name]
			all.calls += s.calls
			all.usec += s.usec
			sum[name] = all
		}
	}
	return out, sum, nil
}

// shardDrain is how a worker drained sends spread over a queue's shards.
type shardDrain struct {
	shards int
	rate   float64 // sends a second, from the worker's start to the last receipt
	// nodeCalls are the commands each node ran over the drain, the bench's
	// own left out.
	nodeCalls []float64
	// used is how many shards finished at least one send.
	used int
	// stats are commandstats' lines per send, all nodes together, the
	// bench's own left out.
	stats map[string]cmdStat
}

// commands is the commands the drain cost Redis, all nodes together.
func (d shardDrain) commands() float64 {
	var sum float64
	for _, c := range d.nodeCalls {
		sum += c
	}
	return sum
}

// busiest is the largest share of the commands that one node ran.
func (d shardDrain) busiest() float64 {
	var top float64
	for _, c := range d.nodeCalls {
		top = max(top, c)
	}
	return top / d.commands()
}

// shares are the nodes' shares of the commands, as "41%/30%/29%".
func (d shardDrain) shares() string {
	parts := make([]string, len(d.nodeCalls))
	for i, c := range d.nodeCalls {
		parts[i] = fmt.Sprintf("%.0f%%", 100*c/d.commands())
	}
	return strings.Join(parts, "/")
}

// above lists the commands a send of d runs more often than one of base,
// by at least 0.1 a send, most first, as "evalsha +1.20".
func (d shardDrain) above(base shardDrain) string {
	type diff struct {
		name string
		more float64
	}
	var ds []diff
	for name, s := range d.stats {
		if more := s.calls - base.stats[name].calls; more >= 0.1 {
			ds = append(ds, diff{name, more})
		}
	}
	slices.SortFunc(ds, func(a, b diff) int { return cmp.Compare(b.more, a.more) })
	parts := make([]string, len(ds))
	for i, x := range ds {
		parts[i] = fmt.Sprintf("%s +%.2f", x.name, x.more)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// shardLine is Mateo send i, due now, from one of shardAccounts accounts.
func shardLine(i int) []byte {
	return fmt.Appendf(nil, `{"type":"mateo:send_message","account":"acct%d","payload":%s}`,
		i%shardAccounts, mateoPayload(i, "", payloadSize))
}

// shardAccountList is MATEO_ACCOUNTS for the accounts of shardLine.
func shardAccountList() string {
	names := make([]string, shardAccounts)
	for a := range names {
		names[a] = fmt.Sprintf("acct%d=tok-acct%d", a, a)
	}
	return strings.Join(names, ",")
}

// drainShards enqueues n due-now Mateo sends from shardAccounts accounts
// into t (empty) with QUEUE_SHARDS=shards, then starts the worker binary
// (concurrency 64, RATE_LIMITS=off, QUEUE_SHARDS=shards) against a fresh
// stand-in, and times it from its start to the stand-in's receipt of the
// last send, counting the commands each node ran meanwhile.
func drainShards(ctx context.Context, e *env, t *redisTarget, n, shards int) (d shardDrain, err error) {
	d.shards = shards
	queues := tasks.Shards("mateo", shards)
	if _, err := goBuild(ctx, e, "./cmd/worker"); err != nil { // built before the clock starts
		return d, err
	}
	sb, err := startStandIn(ctx, e, standInOptions{})
	if err != nil {
		return d, err
	}
	defer sb.stop()
	if err := enqueueOurs(ctx, t.conn, n, shardLine, producer.WithQueueShards(shards)); err != nil {
		return d, err
	}
	// The target's Redis replaces REDIS_URL: a Cluster is named by its
	// nodes.
	environ := mateoEnv(&redisServer{}, sb, 64)
	delete(environ, "REDIS_URL")
	for k, v := range t.env {
		environ[k] = v
	}
	environ["RATE_LIMITS"] = "off"
	environ["MATEO_ACCOUNTS"] = shardAccountList()
	environ["QUEUE_SHARDS"] = strconv.Itoa(shards)

	byNode := make([][]string, len(t.nodes))
	for _, q := range queues {
		i, err := t.nodeOf(ctx, q)
		if err != nil {
			return d, err
		}
		byNode[i] = append(byNode[i], q)
	}
	from, fromStats, err := t.calls(ctx)
	if err != nil {
		return d, err
	}
	start := time.Now()
	p, err := startOurs(ctx, e, environ)
	if err != nil {
		return d, err
	}
	defer p.stop()
	asked := make([]float64, len(t.nodes))
	var perQueue map[string]int
	err = waitFor(ctx, 2*time.Minute, fmt.Sprintf("%d sends from %d shards of mateo", n, shards), func() (bool, error) {
		if err := p.exited(); err != nil {
			return false, err
		}
		var done, failed int
		perQueue = map[string]int{}
		for i, qs := range byNode {
			if len(qs) == 0 {
				continue
			}
			counts, err := counters(ctx, t.nodes[i], qs)
			asked[i] += float64(2 * len(qs))
			if err != nil {
				return false, err
			}
			for q, c := range counts {
				perQueue[q] = c.done
				done += c.done
				failed += c.failed
			}
		}
		if failed > 0 {
			return false, fmt.Errorf("%d attempts failed: the sends fail", failed)
		}
		return done >= n, nil
	})
	if err != nil {
		return d, err
	}
	to, toStats, err := t.calls(ctx)
	if err != nil {
		return d, err
	}
	if err := p.stop(); err != nil {
		return d, err
	}
	if d.rate, err = drainRate(sb, n, start); err != nil {
		return d, err
	}
	d.nodeCalls = make([]float64, len(t.nodes))
	get := toStats["get"]
	for i := range t.nodes {
		d.nodeCalls[i] = to[i] - from[i] - asked[i]
		get.calls -= asked[i]
	}
	toStats["get"] = get
	d.stats = perSend(fromStats, toStats, n)
	for _, c := range perQueue {
		if c > 0 {
			d.used++
		}
	}
	if shards > 1 && d.used < 2 {
		return d, fmt.Errorf("QUEUE_SHARDS=%d: all the sends went through one shard", shards)
	}
	return d, nil
}

// queueCount is what asynq's counters say of one queue.
type queueCount struct{ done, failed int }

// counters reads, in one pipeline of two GETs a queue, how many of each
// queue's tasks asynq has finished and how many attempts failed, as
// redisServer.finished does for one queue.
func counters(ctx context.Context, c *redis.Client, queues []string) (map[string]queueCount, error) {
	processed := make([]*redis.StringCmd, len(queues))
	failures := make([]*redis.StringCmd, len(queues))
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range queues {
			processed[i] = p.Get(ctx, "asynq:{"+q+"}:processed")
			failures[i] = p.Get(ctx, "asynq:{"+q+"}:failed")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) { // a queue that has processed nothing yet
		return nil, err
	}
	out := make(map[string]queueCount, len(queues))
	for i, q := range queues {
		p, _ := processed[i].Int()
		f, _ := failures[i].Int()
		out[q] = queueCount{done: p - f, failed: f}
	}
	return out, nil
}

// clusterShards are the QUEUE_SHARDS the cluster-shards row compares:
// today's one queue, and the split.
var clusterShards = [2]int{1, 12}

// rowClusterShards drains the same due-now Mateo sends through the worker
// binary on a three-master Redis Cluster, with the mateo queue whole and
// split in 12 shards, and says how evenly the masters share Redis's
// commands and how fast the sends go. The two alternate, three times
// each, on the same Cluster flushed between, and each one's fastest run
// counts: a run is seconds of two shared cores, which another process can
// slow by a third.
func rowClusterShards(ctx context.Context, e *env) (Result, error) {
	n := e.scale.Worker
	t, err := startCluster(e)
	if err != nil {
		return Result{}, err
	}
	defer t.stop()
	var best [2]shardDrain
	var rates [2][]string
	for range 3 {
		for i, shards := range clusterShards {
			if err := t.flush(ctx); err != nil {
				return Result{}, err
			}
			d, err := drainShards(ctx, e, t, n, shards)
			if err != nil {
				return Result{}, fmt.Errorf("QUEUE_SHARDS=%d: %w", shards, err)
			}
			rates[i] = append(rates[i], fmt.Sprintf("%.0f", d.rate))
			if d.rate > best[i].rate {
				best[i] = d
			}
		}
	}
	today, split := best[0], best[1]
	ratio := split.rate / today.rate
	figure := func(d shardDrain) string {
		return fmt.Sprintf("QUEUE_SHARDS=%d: busiest %.0f%%, %.0f/s", d.shards, 100*d.busiest(), d.rate)
	}
	return Result{
		Measured: figure(split),
		Bare:     figure(today),
		Value:    fmt.Sprintf("%.0f%%, × %.2f", 100*split.busiest(), ratio),
		Pass:     split.busiest() <= 0.45 && ratio >= 0.9,
		Notes: []string{
			fmt.Sprintf("a Redis Cluster of %d masters (no replicas, slots split evenly) started by the bench; %d due-now Mateo sends of %d-byte bodies from %d accounts, enqueued by the producer, "+
				"drained by the worker binary (REDIS_CLUSTER_ADDRS, concurrency 64, RATE_LIMITS=off) against its own sandbox binary; rate = sends over the time from starting the worker to the sandbox's receipt of the last one; "+
				"QUEUE_SHARDS=%d and %d alternating on the same Cluster, flushed between, runs %s /s and %s /s (fastest counts); the reference column is today's single queue",
				clusterMasters, n, payloadSize, shardAccounts, today.shards, split.shards, strings.Join(rates[0], ", "), strings.Join(rates[1], ", ")),
			fmt.Sprintf("commands by master (INFO commandstats calls over the drain, those scripts run included, the bench's own left out): QUEUE_SHARDS=%d %s of %.1f a send; QUEUE_SHARDS=%d %s of %.1f a send, %d shards used; per send above one shard: %s",
				today.shards, today.shares(), today.commands()/float64(n), split.shards, split.shares(), split.commands()/float64(n), split.used, split.above(today)),
		},
		Numbers: map[string]float64{
			"one_shard_busiest": today.busiest(), "one_shard_per_s": today.rate,
			"split_busiest": split.busiest(), "split_per_s": split.rate, "rate_ratio": ratio,
			"one_shard_commands_per_send": today.commands() / float64(n), "split_commands_per_send": split.commands() / float64(n),
		},
	}, nil
}

// commandShards are the QUEUE_SHARDS the shard-commands row compares.
var commandShards = []int{1, 8, 32}

// rowShardCommands drains the same due-now Mateo sends on a fresh
// redis-server per QUEUE_SHARDS and compares the Redis commands a send
// costs: shards are queues the worker polls, and an empty one costs
// commands too.
func rowShardCommands(ctx context.Context, e *env) (Result, error) {
	n := e.scale.Worker / 4
	per := map[int]float64{}
	var runs []string
	var first, last shardDrain
	for _, shards := range commandShards {
		t, err := singleTarget(e)
		if err != nil {
			return Result{}, err
		}
		d, err := drainShards(ctx, e, t, n, shards)
		t.stop()
		if err != nil {
			return Result{}, fmt.Errorf("QUEUE_SHARDS=%d: %w", shards, err)
		}
		per[shards] = d.commands() / float64(n)
		if first.stats == nil {
			first = d
		}
		last = d
		runs = append(runs, fmt.Sprintf("%d: %.1f (%.0f/s, %d shards used)", shards, per[shards], d.rate, d.used))
	}
	lo, hi := commandShards[0], commandShards[len(commandShards)-1]
	ratio := per[hi] / per[lo]
	numbers := map[string]float64{"ratio": ratio}
	for s, c := range per {
		numbers[fmt.Sprintf("shards_%d_commands_per_send", s)] = c
	}
	return Result{
		Measured: fmt.Sprintf("QUEUE_SHARDS=%d: %.1f cmds", hi, per[hi]),
		Bare:     fmt.Sprintf("QUEUE_SHARDS=%d: %.1f cmds", lo, per[lo]),
		Value:    fmt.Sprintf("%.2f", ratio),
		Pass:     ratio <= 1.2,
		Notes: []string{
			fmt.Sprintf("%d due-now Mateo sends of %d-byte bodies from %d accounts, enqueued by the producer, drained by the worker binary (concurrency 64, RATE_LIMITS=off) on a fresh redis-server per QUEUE_SHARDS; "+
				"Redis commands per send (INFO commandstats, those scripts run included, the bench's own left out) by QUEUE_SHARDS: %s; the reference column is today's single queue",
				n, payloadSize, shardAccounts, strings.Join(runs, ", ")),
			fmt.Sprintf("per send, QUEUE_SHARDS=%d above %d, by command: %s", hi, lo, last.above(first)),
		},
		Numbers: numbers,
	}, nil
}
