package worker

import (
	"fmt"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/send"
	"github.com/punctualhq/punctual/senders"
)

// ConfigFrom returns the worker's configuration read from c: its Redis, the providers'
// transports (made with opts), accounts, policy, limits, queues and
// addresses.
func ConfigFrom(c *config.Config, opts ...senders.Option) (Config, error) {
	conn, err := c.RedisConnOpt()
	if err != nil {
		return Config{}, err
	}
	accounts, err := c.Accounts()
	if err != nil {
		return Config{}, err
	}
	queues, err := config.ParseQueues(c.WorkerQueues)
	if err != nil {
		return Config{}, fmt.Errorf("WORKER_QUEUES: %w", err)
	}
	reg := c.Registry()
	transports := map[string]*senders.Transport{}
	creds := credentials.Config{File: c.AccountsFile, Static: accounts, Keys: c.CredentialsKey}
	for _, p := range reg {
		pc := c.Provider(p.Name)
		if pc == nil {
			continue
		}
		if transports[p.Name], err = pc.Transport(opts...); err != nil {
			return Config{}, err
		}
		if app, ok := pc.(providers.OAuthApp); ok {
			creds.ClientID, creds.ClientSecret, creds.BaseURL = app.OAuthApp()
		}
	}
	policy, err := c.Policy()
	if err != nil {
		return Config{}, fmt.Errorf("RETRY_STATUSES: %w", err)
	}
	limits, err := c.ParseRateLimits()
	if err != nil {
		return Config{}, fmt.Errorf("RATE_LIMITS: %w", err)
	}
	windows, err := config.ParseSendWindows(c.SendWindows)
	if err != nil {
		return Config{}, fmt.Errorf("SEND_WINDOWS: %w", err)
	}
	caps, err := c.ParseRecipientCaps()
	if err != nil {
		return Config{}, fmt.Errorf("RECIPIENT_CAPS: %w", err)
	}
	return Config{
		Redis:       conn,
		Providers:   reg,
		Transports:  transports,
		Credentials: creds,
		Policy:      policy, RateLimits: limits, SendWindows: windows, RecipientCaps: caps,
		Concurrency: c.WorkerConcurrency, Queues: queues, QueueShards: c.QueueShards, AtMostOnce: c.AtMostOnce,
		Backoff:          send.Backoff{Base: c.RetryBackoffBase, Max: c.RetryBackoffMax},
		ArchiveRetention: c.ArchiveRetention, ResultRetention: c.ResultRetention, NoAccountGrace: c.NoAccountGrace, ShutdownTimeout: c.ShutdownTimeout,
		HTTPAddr: c.HTTPAddr, MonitorAddr: c.MonitorAddr, MonitorUser: c.MonitorUser, MonitorPassword: c.MonitorPassword,
	}, nil
}
