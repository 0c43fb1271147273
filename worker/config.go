package worker

import (
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/send"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/window"
)

// Config is what a worker is built from. Package config makes it from the
// environment; a program that embeds a worker fills it itself.
type Config struct {
	// Redis is where the tasks are.
	Redis asynq.RedisConnOpt
	// Providers are the providers the worker sends for; the built-in
	// ones (builtin.Registry) when nil.
	Providers providers.Registry
	// Transports are the providers' transports, by provider name: one for
	// every provider with a registered operation.
	Transports map[string]*senders.Transport
	// Credentials are the providers' accounts; the worker gives them its
	// Redis, its logger and the names of Providers.
	Credentials credentials.Config
	// Policy classifies the providers' answers.
	Policy senders.Policy
	// RateLimits are the providers' limits; nil limits nothing.
	RateLimits ratelimit.Limits
	// SendWindows are the windows envelopes and accounts name, by name.
	SendWindows map[string]window.Spec
	// RecipientCaps are the caps per recipient, by scope (ratelimit.Caps);
	// nil caps nothing.
	RecipientCaps ratelimit.Limits
	// Concurrency bounds the requests in flight; tasks held for their time
	// do not count. At least 1.
	Concurrency int
	// Queues are the queues taken from, with their weights.
	Queues map[string]int
	// QueueShards is how many asynq queues each queue is split into
	// (tasks.Shards); 0 is one. Every shard is taken, with its queue's
	// weight, and so is any shard of a count used before.
	QueueShards int
	// AtMostOnce names the providers whose sends with an unknown outcome
	// are archived as unknown instead of sent again.
	AtMostOnce []string
	// Backoff is the delay between failed tries.
	Backoff send.Backoff
	// ArchiveRetention is how long an archived send is kept.
	ArchiveRetention time.Duration
	// ResultRetention is how long the record of a send made is kept: its
	// status, and its key taken.
	ResultRetention time.Duration
	// NoAccountGrace is how long a send whose account this worker lacks
	// waits for a worker that has it; 0 archives it at once.
	NoAccountGrace time.Duration
	// ShutdownTimeout bounds how long a stopping worker lets in-flight
	// sends finish.
	ShutdownTimeout time.Duration
	// HTTPAddr is where /healthz, /readyz and /metrics are served.
	HTTPAddr string
	// MonitorAddr is where the asynq web UI is served; off when empty.
	// MonitorUser and MonitorPassword guard it with basic auth when the
	// password is set.
	MonitorAddr, MonitorUser, MonitorPassword string
}
