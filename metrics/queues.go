package metrics

import (
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/punctualhq/punctual/tasks"
)

// The series of asynq's queue collector (github.com/hibiken/asynq/x/metrics),
// by queue name: the shards of a queue (QUEUE_SHARDS) are summed into
// their queue's series, so that dashboards and alerts see one queue
// whatever the count.
var (
	tasksQueuedDesc = prometheus.NewDesc("asynq_tasks_enqueued_total",
		"Number of tasks enqueued; broken down by queue and state.", []string{"queue", "state"}, nil)
	queueSizeDesc = prometheus.NewDesc("asynq_queue_size",
		"Number of tasks in a queue", []string{"queue"}, nil)
	queueLatencyDesc = prometheus.NewDesc("asynq_queue_latency_seconds",
		"Number of seconds the oldest pending task is waiting in pending state to be processed.", []string{"queue"}, nil)
	queueMemoryDesc = prometheus.NewDesc("asynq_queue_memory_usage_approx_bytes",
		"Number of memory used by a given queue (approximated number by sampling).", []string{"queue"}, nil)
	processedDesc = prometheus.NewDesc("asynq_tasks_processed_total",
		"Number of tasks processed (both succeeded and failed); broken down by queue", []string{"queue"}, nil)
	failedDesc = prometheus.NewDesc("asynq_tasks_failed_total",
		"Number of tasks failed; broken down by queue", []string{"queue"}, nil)
	pausedDesc = prometheus.NewDesc("asynq_queue_paused_total",
		"Number of queues paused", []string{"queue"}, nil)
	untakenDesc = prometheus.NewDesc("punctual_queue_shards_untaken",
		"Shards of a queue this worker takes that hold tasks to take (pending, scheduled, retry) and that it does not take: put there under another QUEUE_SHARDS since it started. Restart the worker to take them.", []string{"queue"}, nil)
)

// queueCollector reports asynq's queues, each the sum of its shards, and
// the shards of the queues of taken that hold tasks taken does not take. A
// Redis that does not answer gives no series (punctual_redis_up says so).
type queueCollector struct {
	inspector *asynq.Inspector
	taken     map[string]int
}

// queueTotals are the figures of one queue, over its shards.
type queueTotals struct {
	states                                        [6]int // active, pending, scheduled, retry, archived, completed
	size, memory, processed, failed, pausedShards int
	untaken                                       int
	latency                                       float64 // the longest of its shards'
}

var stateNames = [6]string{"active", "pending", "scheduled", "retry", "archived", "completed"}

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{tasksQueuedDesc, queueSizeDesc, queueLatencyDesc, queueMemoryDesc, processedDesc, failedDesc, pausedDesc, untakenDesc} {
		ch <- d
	}
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	shards, err := c.inspector.Queues()
	if err != nil {
		return
	}
	byQueue := map[string]*queueTotals{}
	for _, shard := range shards {
		info, err := c.inspector.GetQueueInfo(shard)
		if err != nil {
			continue
		}
		q := tasks.QueueOf(shard)
		t := byQueue[q]
		if t == nil {
			t = &queueTotals{}
			byQueue[q] = t
		}
		for i, n := range [6]int{info.Active, info.Pending, info.Scheduled, info.Retry, info.Archived, info.Completed} {
			t.states[i] += n
		}
		t.size += info.Size
		t.memory += int(info.MemoryUsage)
		t.processed += info.ProcessedTotal
		t.failed += info.FailedTotal
		t.latency = max(t.latency, info.Latency.Seconds())
		if info.Paused {
			t.pausedShards++
		}
		// Archived tasks wait for no worker.
		if _, ok := c.taken[shard]; !ok && info.Pending+info.Scheduled+info.Retry > 0 {
			t.untaken++
		}
	}
	for q, t := range byQueue {
		for i, n := range t.states {
			ch <- prometheus.MustNewConstMetric(tasksQueuedDesc, prometheus.GaugeValue, float64(n), q, stateNames[i])
		}
		ch <- prometheus.MustNewConstMetric(queueSizeDesc, prometheus.GaugeValue, float64(t.size), q)
		ch <- prometheus.MustNewConstMetric(queueLatencyDesc, prometheus.GaugeValue, t.latency, q)
		ch <- prometheus.MustNewConstMetric(queueMemoryDesc, prometheus.GaugeValue, float64(t.memory), q)
		ch <- prometheus.MustNewConstMetric(processedDesc, prometheus.CounterValue, float64(t.processed), q)
		ch <- prometheus.MustNewConstMetric(failedDesc, prometheus.CounterValue, float64(t.failed), q)
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, float64(t.pausedShards), q)
		if _, ok := c.taken[q]; ok {
			ch <- prometheus.MustNewConstMetric(untakenDesc, prometheus.GaugeValue, float64(t.untaken), q)
		}
	}
}
