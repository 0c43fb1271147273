package bench

import (
	"fmt"

	"github.com/punctualhq/punctual/producer"
)

// shardQueues are the asynq queues of queue's n shards. Until the module
// splits queues, one shard is the queue itself and more are refused.
func shardQueues(queue string, n int) ([]string, error) {
	if n != 1 {
		return nil, fmt.Errorf("QUEUE_SHARDS=%d: this checkout does not split queues", n)
	}
	return []string{queue}, nil
}

// shardOptions are the producer's options for n shards.
func shardOptions(n int) []producer.Option { return nil }
