package metrics_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/metrics"
)

// series gathers reg and returns each series of family as "provider
// account value", sorted.
func series(t *testing.T, reg *prometheus.Registry, family string) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out = append(out, fmt.Sprintf("%s %s %g", labels["provider"], labels["account"], m.GetCounter().GetValue()))
		}
	}
	slices.Sort(out)
	return out
}

func TestOnlyConfiguredAccountsAreNamed(t *testing.T) {
	t.Parallel()
	ins := asynq.NewInspector(redistest.Start(t))
	t.Cleanup(func() { _ = ins.Close() })
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, ins, nil, func(provider, account string) bool { return provider == "mateo" && account == "acme" })

	m.Sent("mateo", "send_message", "acme", "sent")
	m.Waited("mateo", "acme", "rate_limit")
	// acme is configured for Mateo only.
	m.Sent("leadconnector", "send_message", "acme", "sent")
	m.Waited("leadconnector", "acme", "rate_limit")
	for i := range 1000 {
		m.Sent("mateo", "send_message", fmt.Sprintf("stranger-%d", i), "sent")
		m.Waited("mateo", fmt.Sprintf("stranger-%d", i), "rate_limit")
	}

	want := []string{"leadconnector unknown 1", "mateo acme 1", "mateo unknown 1000"}
	for _, family := range []string{"punctual_sends_total", "punctual_waits_total"} {
		if got := series(t, reg, family); !slices.Equal(got, want) {
			t.Errorf("%s: %d series %.300q, want %q", family, len(got), got, want)
		}
	}
}

// gauges gathers reg and returns the value of each unlabelled gauge.
func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) == 0 && m.GetGauge() != nil {
				out[f.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// waitGauges gathers reg until ok accepts its gauges, or fails after 10 s.
func waitGauges(t *testing.T, reg *prometheus.Registry, what string, ok func(map[string]float64) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g := gauges(t, reg)
		if ok(g) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: gauges %v", what, g)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisUpAndLiveWorkers(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	conn := asynq.RedisClientOpt{Addr: srv.Addr}
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rdb.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewRedisCollector(rdb))

	waitGauges(t, reg, "no worker yet", func(g map[string]float64) bool {
		w, listed := g["punctual_workers"]
		return g["punctual_redis_up"] == 1 && listed && w == 0
	})

	// Two asynq servers of this one process are one worker, as the
	// worker's loops are.
	for range 2 {
		s := asynq.NewServer(conn, asynq.Config{Concurrency: 1, LogLevel: asynq.FatalLevel})
		if err := s.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
	}
	waitGauges(t, reg, "two servers of one process", func(g map[string]float64) bool {
		return g["punctual_redis_up"] == 1 && g["punctual_workers"] == 1
	})

	srv.Stop()
	waitGauges(t, reg, "Redis stopped", func(g map[string]float64) bool {
		_, listed := g["punctual_workers"]
		return g["punctual_redis_up"] == 0 && !listed
	})
}

func TestAsynqPatchesAreOneWhenAppliedAndZeroWhenNot(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewPatchCollector(func() map[string]bool {
		return map[string]bool{"dequeue_marks": true, "archive_limits": false}
	}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			got = append(got, fmt.Sprintf("%s{patch=%s} %v", f.GetName(), m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()))
		}
	}
	slices.Sort(got)
	want := []string{"punctual_asynq_patch_applied{patch=archive_limits} 0", "punctual_asynq_patch_applied{patch=dequeue_marks} 1"}
	if !slices.Equal(got, want) {
		t.Errorf("series %q, want %q", got, want)
	}
}
