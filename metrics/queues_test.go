package metrics_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/metrics"
	"github.com/punctualhq/punctual/tasks"
)

func TestAQueuesSeriesAreNamedForItAndSumItsShards(t *testing.T) {
	t.Parallel()
	conn := redistest.Start(t)
	client := asynq.NewClient(conn)
	t.Cleanup(func() { _ = client.Close() })
	ins := asynq.NewInspector(conn)
	t.Cleanup(func() { _ = ins.Close() })
	// Two of mateo's four shards hold 3 pending and 2 scheduled; the
	// queue bulk is one shard with 1 pending. The worker takes shards 0
	// and 1 of mateo's four: shard 3 holds tasks it does not take.
	shards := tasks.Shards("mateo", 4)
	enqueue := func(queue string, opts ...asynq.Option) {
		t.Helper()
		if _, err := client.Enqueue(asynq.NewTask("mateo:send_message", nil), append(opts, asynq.Queue(queue))...); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		enqueue(shards[1])
	}
	enqueue(shards[3])
	enqueue(shards[3], asynq.ProcessIn(time.Hour))
	enqueue(shards[1], asynq.ProcessIn(time.Hour))
	enqueue("bulk")
	// Shard 2 holds only an archived task: nothing for a worker to take.
	enqueue(shards[2], asynq.ProcessIn(time.Hour), asynq.TaskID("archived"))
	if err := ins.ArchiveTask(shards[2], "archived"); err != nil {
		t.Fatal(err)
	}
	if err := ins.PauseQueue(shards[3]); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics.New(reg, ins, map[string]int{"mateo": 1, tasks.Shards("mateo", 4)[1]: 1}, func(string, string) bool { return false })

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		if !slices.Contains([]string{"asynq_tasks_enqueued_total", "asynq_queue_size", "asynq_queue_paused_total", "punctual_queue_shards_untaken"}, f.GetName()) {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := ""
			for _, l := range m.GetLabel() {
				labels += l.GetName() + "=" + l.GetValue() + " "
			}
			if v := m.GetGauge().GetValue(); v != 0 {
				got = append(got, fmt.Sprintf("%s %s%g", f.GetName(), labels, v))
			}
		}
	}
	slices.Sort(got)
	want := []string{
		"asynq_queue_paused_total queue=mateo 1",
		"asynq_queue_size queue=bulk 1",
		"asynq_queue_size queue=mateo 6",
		"asynq_tasks_enqueued_total queue=bulk state=pending 1",
		"asynq_tasks_enqueued_total queue=mateo state=archived 1",
		"asynq_tasks_enqueued_total queue=mateo state=pending 3",
		"asynq_tasks_enqueued_total queue=mateo state=scheduled 2",
		"punctual_queue_shards_untaken queue=mateo 1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("series\n%s\nwant\n%s", got, want)
	}
}
