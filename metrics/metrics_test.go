package metrics_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

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
	m := metrics.New(reg, ins, func(provider, account string) bool { return provider == "mateo" && account == "acme" })

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
