package worker

import (
	"fmt"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
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
	mt, err := mateo.NewTransport(c.MateoBaseURL, opts...)
	if err != nil {
		return Config{}, fmt.Errorf("MATEO_BASE_URL: %w", err)
	}
	lt, err := leadconnector.NewTransport(c.LeadConnectorBaseURL, c.LeadConnectorVersion, opts...)
	if err != nil {
		return Config{}, fmt.Errorf("LEADCONNECTOR_BASE_URL: %w", err)
	}
	policy, err := c.Policy()
	if err != nil {
		return Config{}, fmt.Errorf("RETRY_STATUSES: %w", err)
	}
	limits, err := config.ParseRateLimits(c.RateLimits)
	if err != nil {
		return Config{}, fmt.Errorf("RATE_LIMITS: %w", err)
	}
	windows, err := config.ParseSendWindows(c.SendWindows)
	if err != nil {
		return Config{}, fmt.Errorf("SEND_WINDOWS: %w", err)
	}
	caps, err := config.ParseRecipientCaps(c.RecipientCaps)
	if err != nil {
		return Config{}, fmt.Errorf("RECIPIENT_CAPS: %w", err)
	}
	return Config{
		Redis:      conn,
		Transports: map[string]*senders.Transport{mateo.Name: mt, leadconnector.Name: lt},
		Credentials: credentials.Config{
			File: c.AccountsFile, Static: accounts, ClientID: c.LeadConnectorClientID, ClientSecret: c.LeadConnectorClientSecret,
			Keys: c.CredentialsKey, BaseURL: c.LeadConnectorBaseURL,
		},
		Policy: policy, RateLimits: limits, SendWindows: windows, RecipientCaps: caps,
		Concurrency: c.WorkerConcurrency, Queues: queues, AtMostOnce: c.AtMostOnce,
		Backoff:          send.Backoff{Base: c.RetryBackoffBase, Max: c.RetryBackoffMax},
		ArchiveRetention: c.ArchiveRetention, NoAccountGrace: c.NoAccountGrace, ShutdownTimeout: c.ShutdownTimeout,
		HTTPAddr: c.HTTPAddr, MonitorAddr: c.MonitorAddr, MonitorUser: c.MonitorUser, MonitorPassword: c.MonitorPassword,
	}, nil
}
