package tasks

// A queue of QUEUE_SHARDS shards is that many asynq queues. asynq keeps
// all of a queue's keys under one Cluster hash tag, so one queue lives on
// one master; shards are named so that their slots are spread evenly over
// the Cluster's, and a Cluster with its slots split evenly between its
// masters gives each master the same share of a queue's shards. A send's
// shard is its account's: one account's sends stay in one asynq queue.

import (
	"hash/fnv"
	"strconv"
	"strings"
	"sync"

	"github.com/punctualhq/punctual/internal/asynqadapter"
)

// ShardSeparator separates a queue's name from its shard's in the name of
// the asynq queue of a shard: "mateo~3". Queue names cannot hold it.
const ShardSeparator = "~"

// MaxShards bounds QUEUE_SHARDS.
const MaxShards = 256

// shardNames holds Shards's answers: each is searched for once.
var shardNames sync.Map // [queue, n] -> []string

type shardsOf struct {
	queue string
	n     int
}

// Shards returns the names of the asynq queues of a queue of n shards
// (n < 2: one). Shard 0 is the queue's own name, so a queue of one shard
// is the queue as it always was; shard i is the first of "queue~i",
// "queue~i.1", "queue~i.2"... whose hash slot lies in the i-th n-th of
// the slots after the queue's own, near its start.
func Shards(queue string, n int) []string {
	n = max(n, 1)
	if names, ok := shardNames.Load(shardsOf{queue, n}); ok {
		return names.([]string)
	}
	names := make([]string, n)
	names[0] = queue
	base := asynqadapter.QueueSlot(queue)
	width := max(asynqadapter.Slots/(n*8), 1)
	for i := 1; i < n; i++ {
		start := base + i*asynqadapter.Slots/n
		name := queue + ShardSeparator + strconv.Itoa(i)
		for k := 1; (asynqadapter.QueueSlot(name)-start+2*asynqadapter.Slots)%asynqadapter.Slots >= width; k++ {
			name = queue + ShardSeparator + strconv.Itoa(i) + "." + strconv.Itoa(k)
		}
		names[i] = name
	}
	shardNames.Store(shardsOf{queue, n}, names)
	return names
}

// ShardOf returns the asynq queue of an account's sends in a queue of n
// shards.
func ShardOf(queue, account string, n int) string {
	if n < 2 {
		return queue
	}
	h := fnv.New32a()
	h.Write([]byte(account))
	return Shards(queue, n)[h.Sum32()%uint32(n)]
}

// QueueOf returns the queue an asynq queue is a shard of: its name up to
// ShardSeparator.
func QueueOf(asynqQueue string) string {
	q, _, _ := strings.Cut(asynqQueue, ShardSeparator)
	return q
}
