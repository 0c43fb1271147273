// Package metrics is what the worker tells Prometheus: sends by provider,
// operation, account and outcome, provider latency, retries and rate-limit
// waits, how late sends start and why, whether Redis answers and how many
// workers it lists as alive, and queue sizes and latency as asynq's
// collector names them, by queue name over the queue's shards.
package metrics

import (
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// unknownAccount is the account label of the accounts that are not
// configured: their names come from task payloads, and a series for each
// would let a stream of bad tasks grow Prometheus without bound.
const unknownAccount = "unknown"

// Metrics counts what the worker's handler does. It is safe for concurrent use.
type Metrics struct {
	sends   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	waits   *prometheus.CounterVec
	late    *prometheus.HistogramVec
	known   func(provider, account string) bool
}

// New registers the worker's metrics, the queue metrics of inspector and
// the Go runtime's on reg. known says whether a provider's account is
// configured; only those are named in the account label, the others are
// counted as "unknown". It is called on every count, concurrently.
func New(reg prometheus.Registerer, inspector *asynq.Inspector, known func(provider, account string) bool) *Metrics {
	m := &Metrics{
		known: known,
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "punctual_sends_total",
			Help: "Tries to send, by provider, operation, account (unknown when not configured) and outcome (sent, duplicate, retry, rate_limited, failed, expired, cancelled, unknown).",
		}, []string{"provider", "operation", "account", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "punctual_provider_request_seconds",
			Help:    "Time a provider took to answer, by provider, operation and HTTP status class (2xx, 4xx, 5xx, error).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 15},
		}, []string{"provider", "operation", "status"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "punctual_waits_total",
			Help: "Sends put back to wait without spending an attempt, by provider, account (unknown when not configured) and reason (rate_limit, recipient_cap, provider_hold, not_due, window, capacity, credentials).",
		}, []string{"provider", "account", "reason"}),
		late: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "punctual_send_lateness_seconds",
			Help:    "Time from a scheduled send's due time to the start of its request, by provider and cause (on_time, window, rate_limit, recipient_cap, provider_hold, retry, capacity).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		}, []string{"provider", "cause"}),
	}
	reg.MustRegister(m.sends, m.latency, m.waits, m.late,
		queueCollector{inspector},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Sent counts a try's outcome.
func (m *Metrics) Sent(provider, operation, account, outcome string) {
	m.sends.WithLabelValues(provider, operation, m.account(provider, account), outcome).Inc()
}

// Answered records how long a provider took; status 0 is a request that
// got no answer.
func (m *Metrics) Answered(provider, operation string, status int, took time.Duration) {
	class := "error"
	if status > 0 {
		class = string(rune('0'+status/100)) + "xx"
	}
	m.latency.WithLabelValues(provider, operation, class).Observe(took.Seconds())
}

// Waited counts a send put back to wait.
func (m *Metrics) Waited(provider, account, reason string) {
	m.waits.WithLabelValues(provider, m.account(provider, account), reason).Inc()
}

// account is the label of a provider's account.
func (m *Metrics) account(provider, account string) string {
	if m.known(provider, account) {
		return account
	}
	return unknownAccount
}

// Late records how long after its due time a send's request started, and
// what made it late.
func (m *Metrics) Late(provider, cause string, late time.Duration) {
	m.late.WithLabelValues(provider, cause).Observe(late.Seconds())
}
