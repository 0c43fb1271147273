package metrics

import "github.com/prometheus/client_golang/prometheus"

var patchDesc = prometheus.NewDesc("punctual_asynq_patch_applied",
	"1 when a change punctual makes to asynq's calls applies in this worker, 0 when the asynq linked in did not do what the change expects in its first chances and it runs unchanged (the log says what is lost); absent until judged. Alert on 0.",
	[]string{"patch"}, nil)

// patchCollector reads punctual_asynq_patch_applied at each scrape.
type patchCollector struct {
	applied func() map[string]bool
}

// NewPatchCollector returns a collector of punctual_asynq_patch_applied,
// one series per change that applied reports (asynqadapter.Applied): an
// upgrade of asynq that moved what a change relies on would otherwise
// lose it without a sign.
func NewPatchCollector(applied func() map[string]bool) prometheus.Collector {
	return patchCollector{applied: applied}
}

// Describe sends the descriptor.
func (c patchCollector) Describe(ch chan<- *prometheus.Desc) { ch <- patchDesc }

// Collect sends 1 or 0 for each change judged.
func (c patchCollector) Collect(ch chan<- prometheus.Metric) {
	for patch, ok := range c.applied() {
		v := 0.0
		if ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(patchDesc, prometheus.GaugeValue, v, patch)
	}
}
