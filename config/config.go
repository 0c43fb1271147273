// Package config reads the configuration of the worker and the enqueue CLI
// from environment variables, and validates it with errors that name the
// variable and what is wrong with it. Every secret has a _FILE form, for
// Docker and Kubernetes secrets.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/internal/redisurl"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/tasks"
)

// DefaultRedisURL is the Redis used when none is configured.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// Config is the configuration, as the environment gives it. Load parses and
// validates it; the methods give its parts in the forms the program uses.
type Config struct {
	// RedisURL is redis://[user:password@]host:port/db, or rediss:// for
	// TLS. Default DefaultRedisURL.
	RedisURL     string `env:"REDIS_URL"`
	RedisURLFile string `env:"REDIS_URL_FILE,file"`
	// RedisClusterAddrs are host:port seeds of a Redis Cluster, used instead of REDIS_URL.
	RedisClusterAddrs []string `env:"REDIS_CLUSTER_ADDRS"`
	// RedisSentinelAddrs are host:port of Redis Sentinels watching RedisSentinelMaster.
	RedisSentinelAddrs  []string `env:"REDIS_SENTINEL_ADDRS"`
	RedisSentinelMaster string   `env:"REDIS_SENTINEL_MASTER"`
	// RedisUsername and RedisPassword authenticate to a Cluster or behind
	// Sentinel (REDIS_URL carries its own).
	RedisUsername     string `env:"REDIS_USERNAME"`
	RedisPassword     string `env:"REDIS_PASSWORD"`
	RedisPasswordFile string `env:"REDIS_PASSWORD_FILE,file"`

	// AccountsFile is a JSON or YAML file of accounts and their
	// credentials (static token, LeadConnector OAuth, agency-derived
	// location), beside those of the providers' variables; reloaded when
	// it changes and on SIGHUP. None by default.
	AccountsFile string `env:"ACCOUNTS_FILE"`
	// CredentialsKey seals the renewed OAuth tokens kept in Redis
	// (AES-256-GCM): 32 bytes in base64 or hex; more keys after commas
	// open older values, the first seals. Required with OAuth accounts.
	CredentialsKey     string `env:"CREDENTIALS_KEY"`
	CredentialsKeyFile string `env:"CREDENTIALS_KEY_FILE,file"`

	// WorkerConcurrency is how many sends a worker makes at once. Default 64.
	WorkerConcurrency int `env:"WORKER_CONCURRENCY" envDefault:"64"`
	// WorkerQueues are the queues a worker takes tasks from, with their
	// weights: name=weight,... Default: each provider's queue at 2, then
	// bulk=1 (mateo=2,leadconnector=2,bulk=1).
	WorkerQueues string `env:"WORKER_QUEUES"`
	// QueueShards splits each queue into this many asynq queues by
	// account, so that a Redis Cluster spreads one provider's sends over
	// its masters (tasks.Shards); give producers and workers the same.
	// Workers take every shard, and any shard of a count used before.
	// Default 1.
	QueueShards int `env:"QUEUE_SHARDS" envDefault:"1"`
	// ShutdownTimeout bounds how long a stopping worker lets in-flight sends
	// finish: longer than the longest request to a provider (LeadConnector's
	// 15 s), so that a stop never cuts a request off.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`

	// MaxRetry is how many times a failed send is retried (at most 1000);
	// set on each task when it is enqueued. Waits are not failures. Default 25.
	MaxRetry int `env:"MAX_RETRY" envDefault:"25"`
	// MaxProviderWait caps the wait a provider may ask for (Retry-After and
	// its rate-limit headers); an answer asking for longer is a failure,
	// retried with backoff. Default 1h.
	MaxProviderWait time.Duration `env:"MAX_PROVIDER_WAIT" envDefault:"1h"`
	// AtMostOnce names the providers whose sends are not repeated when
	// their outcome is unknown (a timeout or a reset after the request was
	// written, or a worker that died mid-request): such a send is archived
	// as unknown instead. Default none.
	AtMostOnce []string `env:"AT_MOST_ONCE"`
	// ArchiveRetention is how long an archived (refused) send is kept, to
	// be seen and retried; never trimmed by count. Default 2160h (90 days).
	ArchiveRetention time.Duration `env:"ARCHIVE_RETENTION" envDefault:"2160h"`
	// NoAccountGrace is how long a send whose account this worker does not
	// have waits, without spending an attempt, for a worker that has it (a
	// rolling deploy, workers with different accounts); archived after
	// that. 0 archives it at once. Default 10m.
	NoAccountGrace time.Duration `env:"NO_ACCOUNT_GRACE" envDefault:"10m"`
	// RetryStatuses are the HTTP statuses retried with backoff: codes and
	// 5xx for every server error. Every other 4xx is permanent; 429 is always
	// waited out. Default 408,425,5xx.
	RetryStatuses string `env:"RETRY_STATUSES" envDefault:"408,425,5xx"`
	// RetryBackoffBase is the delay before the first retry; it doubles with
	// each retry, with jitter. Default 2s.
	RetryBackoffBase time.Duration `env:"RETRY_BACKOFF_BASE" envDefault:"2s"`
	// RetryBackoffMax caps the retry delay. Default 1h.
	RetryBackoffMax time.Duration `env:"RETRY_BACKOFF_MAX" envDefault:"1h"`
	// ResultRetention is how long the record of a send made (the worker's)
	// or cancelled (the producer's) is kept: its key taken, and its
	// `enqueue status`. Default 168h (7 days).
	ResultRetention time.Duration `env:"RESULT_RETENTION" envDefault:"168h"`
	// RateLimits are the provider limits: provider[:account]=N/period+...,
	// or off. Default: the providers' published limits.
	RateLimits string `env:"RATE_LIMITS"`
	// SendWindows are the named send windows an envelope or an account
	// may name: name=TZ [DAYS] FROM-TO;... (ParseSendWindows). None by default.
	SendWindows string `env:"SEND_WINDOWS"`
	// RecipientCaps cap the sends to each recipient over any period:
	// [provider[:account]=]N/period+..., a cap without a scope counting every
	// send (3/24h: at most 3 in any 24 h). None by default.
	RecipientCaps string `env:"RECIPIENT_CAPS"`

	// HTTPAddr is where the worker serves /healthz, /readyz and /metrics. Default :8080.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8080"`
	// MonitorAddr is where the worker serves the asynq web UI, under
	// /monitor/; off when empty (the default). The UI can delete tasks: off
	// loopback it needs MonitorPassword.
	MonitorAddr string `env:"MONITOR_ADDR"`
	// MonitorUser and MonitorPassword guard the UI with basic auth. Default user admin.
	MonitorUser         string `env:"MONITOR_USER" envDefault:"admin"`
	MonitorPassword     string `env:"MONITOR_PASSWORD"`
	MonitorPasswordFile string `env:"MONITOR_PASSWORD_FILE,file"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// LogFormat is json or console. Default json.
	LogFormat string `env:"LOG_FORMAT" envDefault:"json"`

	// registry is the providers the configuration was read for; settings
	// are their configurations, by name.
	registry providers.Registry
	settings map[string]providers.Config
}

// Load reads the configuration of the built-in providers and the rest from
// the environment, and validates it.
func Load() (*Config, error) {
	return LoadWith(builtin.Registry(), nil)
}

// LoadFrom reads the configuration of the built-in providers and the rest
// from environ (the process environment when nil), and validates it.
func LoadFrom(environ map[string]string) (*Config, error) {
	return LoadWith(builtin.Registry(), environ)
}

// LoadWith reads the configuration from environ (the process environment
// when nil), each provider of reg's variables with it, and validates it.
// The configuration keeps reg (Registry) for the producer and the worker
// built from it.
func LoadWith(reg providers.Registry, environ map[string]string) (*Config, error) {
	if err := reg.Check(); err != nil {
		return nil, err
	}
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	c, err := env.ParseAsWithOptions[Config](opts)
	if err != nil {
		return nil, explain(err, reflect.TypeFor[Config]())
	}
	lookup := os.LookupEnv
	if environ != nil {
		lookup = func(k string) (string, bool) { v, ok := environ[k]; return v, ok }
	}
	errs := []error{readSecretFiles(&c, lookup)}
	c.registry, c.settings = reg, map[string]providers.Config{}
	for _, p := range reg {
		if p.NewConfig == nil {
			continue
		}
		s := p.NewConfig()
		if err := env.ParseWithOptions(s, opts); err != nil {
			errs = append(errs, explain(err, reflect.TypeOf(s).Elem()))
			continue
		}
		errs = append(errs, readSecretFiles(s, lookup))
		c.settings[p.Name] = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// applyDefaults sets the defaults that follow from the providers.
func (c *Config) applyDefaults() {
	if c.WorkerQueues == "" {
		c.WorkerQueues = defaultQueues(c.registry)
	}
	if c.RateLimits == "" {
		c.RateLimits = defaultRateLimits(c.registry)
	}
}

// defaultQueues is WORKER_QUEUES's default: the queue of every provider's
// operations at weight 2, then bulk at 1.
func defaultQueues(reg providers.Registry) string {
	var queues []string
	for _, p := range reg {
		for _, op := range p.Operations {
			if q := op.DefaultQueue() + "=2"; !slices.Contains(queues, q) {
				queues = append(queues, q)
			}
		}
	}
	return strings.Join(append(queues, "bulk=1"), ",")
}

// defaultRateLimits is RATE_LIMITS's default: the providers' published
// limits.
func defaultRateLimits(reg providers.Registry) string {
	var limits []string
	for _, p := range reg {
		if p.RateLimit != "" {
			limits = append(limits, p.Name+"="+p.RateLimit)
		}
	}
	if len(limits) == 0 {
		return "off"
	}
	return strings.Join(limits, ",")
}

// Registry returns the providers the configuration was read for.
func (c *Config) Registry() providers.Registry {
	return c.registry
}

// Provider returns the configuration of the provider named name, as its
// NewConfig made it (a *mateo.Config for mateo); nil for a provider that
// reads no variable or is not in the registry.
func (c *Config) Provider(name string) providers.Config {
	return c.settings[name]
}

// readSecretFiles moves each secret read from its _FILE form into its
// variable's field, in the struct v points to: a field tagged
// "X_FILE,file" beside one tagged "X". lookup tells which variables are
// set.
func readSecretFiles(v any, lookup func(string) (string, bool)) error {
	s := reflect.ValueOf(v).Elem()
	fields := map[string]reflect.Value{}
	for i := range s.NumField() {
		if name, _, _ := strings.Cut(s.Type().Field(i).Tag.Get("env"), ","); name != "" {
			fields[name] = s.Field(i)
		}
	}
	var errs []error
	for i := range s.NumField() {
		name, opts, _ := strings.Cut(s.Type().Field(i).Tag.Get("env"), ",")
		base, ok := strings.CutSuffix(name, "_FILE")
		value := fields[base]
		if opts != "file" || !ok || !value.IsValid() || value.Kind() != reflect.String {
			continue
		}
		if path, _ := lookup(name); path == "" {
			continue
		}
		fromFile := s.Field(i)
		switch {
		case strings.TrimSpace(fromFile.String()) == "":
			errs = append(errs, fmt.Errorf("%s: the file is empty", name))
			continue
		case value.String() != "":
			errs = append(errs, fmt.Errorf("%s: set it or %s, not both", base, name))
			continue
		}
		value.SetString(strings.TrimSpace(fromFile.String()))
		fromFile.SetString("")
	}
	return errors.Join(errs...)
}

// explain rewrites the errors of caarlos0/env, parsing a struct of type t,
// to name the variable.
func explain(err error, t reflect.Type) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		var fe env.LoadFileContentError
		switch {
		case errors.As(e, &pe):
			f, _ := t.FieldByName(pe.Name)
			name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			errs = append(errs, fmt.Errorf("%s: not a valid %s", name, kindOf(pe.Type)))
		case errors.As(e, &fe):
			errs = append(errs, fmt.Errorf("%s: cannot read %q: %w", fe.Key, fe.Filename, errors.Unwrap(fe.Err)))
		default:
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

func kindOf(t reflect.Type) string {
	if t == reflect.TypeFor[time.Duration]() {
		return "duration (such as 30s, 5m, 168h)"
	}
	if t.Kind() == reflect.Int {
		return "whole number"
	}
	return t.String()
}

// Validate checks every variable and the combinations of them, and returns
// all the problems found, each naming its variable.
func (c *Config) Validate() error {
	var errs []error
	add := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if _, err := c.RedisConnOpt(); err != nil {
		errs = append(errs, err)
	}
	for _, p := range c.registry {
		if s := c.settings[p.Name]; s != nil {
			if err := s.Validate(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if _, err := c.Accounts(); err != nil {
		errs = append(errs, err)
	}
	if c.CredentialsKey != "" {
		_, err := credentials.ParseKeys(c.CredentialsKey)
		add("CREDENTIALS_KEY", err)
	}
	if c.WorkerConcurrency < 1 {
		add("WORKER_CONCURRENCY", fmt.Errorf("must be at least 1, got %d", c.WorkerConcurrency))
	}
	_, err := ParseQueues(c.WorkerQueues)
	add("WORKER_QUEUES", err)
	if c.QueueShards < 1 || c.QueueShards > tasks.MaxShards {
		add("QUEUE_SHARDS", fmt.Errorf("must be 1 to %d, got %d", tasks.MaxShards, c.QueueShards))
	}
	if c.ShutdownTimeout <= 0 {
		add("SHUTDOWN_TIMEOUT", fmt.Errorf("must be positive, got %s", c.ShutdownTimeout))
	}
	if c.MaxRetry < 0 || c.MaxRetry > tasks.MaxRetryLimit {
		add("MAX_RETRY", fmt.Errorf("must be 0 to %d, got %d", tasks.MaxRetryLimit, c.MaxRetry))
	}
	if c.MaxProviderWait <= 0 {
		add("MAX_PROVIDER_WAIT", fmt.Errorf("must be positive, got %s", c.MaxProviderWait))
	}
	for _, p := range c.AtMostOnce {
		if names := c.registry.Names(); !slices.Contains(names, p) {
			add("AT_MOST_ONCE", fmt.Errorf("unknown provider %q (%s)", p, strings.Join(names, ", ")))
		}
	}
	if c.NoAccountGrace < 0 {
		add("NO_ACCOUNT_GRACE", fmt.Errorf("must not be negative, got %s", c.NoAccountGrace))
	}
	if c.ArchiveRetention < time.Hour {
		add("ARCHIVE_RETENTION", fmt.Errorf("must be at least 1h, got %s", c.ArchiveRetention))
	}
	_, err = c.Policy()
	add("RETRY_STATUSES", err)
	if c.RetryBackoffBase <= 0 || c.RetryBackoffMax < c.RetryBackoffBase {
		add("RETRY_BACKOFF_BASE", fmt.Errorf("must be positive and at most RETRY_BACKOFF_MAX, got %s and %s", c.RetryBackoffBase, c.RetryBackoffMax))
	}
	if c.ResultRetention <= 0 {
		add("RESULT_RETENTION", fmt.Errorf("must be positive, got %s", c.ResultRetention))
	}
	_, err = parseRateLimits(c.registry, c.RateLimits)
	add("RATE_LIMITS", err)
	_, err = ParseSendWindows(c.SendWindows)
	add("SEND_WINDOWS", err)
	_, err = parseRecipientCaps(c.registry, c.RecipientCaps)
	add("RECIPIENT_CAPS", err)
	if c.MonitorAddr != "" && c.MonitorPassword == "" && !loopbackAddr(c.MonitorAddr) {
		add("MONITOR_ADDR", errors.New("the monitor can delete tasks: bind it to a loopback address or set MONITOR_PASSWORD"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("LOG_LEVEL", fmt.Errorf("must be debug, info, warn or error, got %q", c.LogLevel))
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		add("LOG_FORMAT", fmt.Errorf("must be json or console, got %q", c.LogFormat))
	}
	return errors.Join(errs...)
}

// RedisConnOpt returns the asynq connection of REDIS_URL, or of the Cluster
// or Sentinel when those are configured.
func (c *Config) RedisConnOpt() (asynq.RedisConnOpt, error) {
	switch {
	case len(c.RedisClusterAddrs) > 0 && len(c.RedisSentinelAddrs) > 0:
		return nil, errors.New("REDIS_CLUSTER_ADDRS and REDIS_SENTINEL_ADDRS: set one, not both")
	case len(c.RedisClusterAddrs) > 0 && c.RedisURL != "":
		return nil, errors.New("REDIS_CLUSTER_ADDRS and REDIS_URL: set one, not both")
	case len(c.RedisSentinelAddrs) > 0 && c.RedisURL != "":
		return nil, errors.New("REDIS_SENTINEL_ADDRS and REDIS_URL: set one, not both")
	case len(c.RedisClusterAddrs) > 0:
		return asynq.RedisClusterClientOpt{Addrs: c.RedisClusterAddrs, Username: c.RedisUsername, Password: c.RedisPassword}, nil
	case len(c.RedisSentinelAddrs) > 0:
		if c.RedisSentinelMaster == "" {
			return nil, errors.New("REDIS_SENTINEL_MASTER: required with REDIS_SENTINEL_ADDRS")
		}
		return asynq.RedisFailoverClientOpt{
			MasterName: c.RedisSentinelMaster, SentinelAddrs: c.RedisSentinelAddrs,
			Username: c.RedisUsername, Password: c.RedisPassword,
		}, nil
	}
	switch {
	case c.RedisUsername != "" || c.RedisPassword != "":
		return nil, errors.New("REDIS_USERNAME and REDIS_PASSWORD: for Cluster or Sentinel only; REDIS_URL carries its own")
	case c.RedisSentinelMaster != "":
		return nil, errors.New("REDIS_SENTINEL_MASTER: needs REDIS_SENTINEL_ADDRS")
	}
	raw := c.RedisURL
	if raw == "" {
		raw = DefaultRedisURL
	}
	opt, err := redisurl.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return opt, nil
}

// Accounts returns the tokens of each provider's default-account token and
// account list (MATEO_TOKEN, MATEO_ACCOUNTS, …).
func (c *Config) Accounts() (Accounts, error) {
	a := Accounts{}
	var errs []error
	for _, p := range c.registry {
		s := c.settings[p.Name]
		if s == nil {
			continue
		}
		token, list, variable := s.Tokens()
		if err := a.add(p.Name, token, list); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", variable, err))
		}
	}
	return a, errors.Join(errs...)
}

// Policy returns the retry policy of RETRY_STATUSES and MAX_PROVIDER_WAIT.
func (c *Config) Policy() (senders.Policy, error) {
	p := senders.DefaultPolicy()
	p.MaxWait = c.MaxProviderWait
	p.RetryStatuses, p.RetryServerErrors = nil, false
	for i, entry := range strings.Split(c.RetryStatuses, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "5xx" {
			p.RetryServerErrors = true
			continue
		}
		code, err := strconv.Atoi(entry)
		if err != nil || code < 400 || code > 599 {
			return p, fmt.Errorf("entry %d %q: want a 4xx or 5xx status, or 5xx", i+1, entry)
		}
		p.RetryStatuses = append(p.RetryStatuses, code)
	}
	return p, nil
}

// loopbackAddr reports whether a listen address host:port is on loopback.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && senders.IsLoopback(host)
}
