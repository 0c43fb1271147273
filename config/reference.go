package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/builtin"
)

//go:generate go run ./internal/gendoc ../docs/configuration.md

// Variable is one environment variable as docs/configuration.md shows it:
// its name and default come from the struct tags caarlos0/env reads
// (Config's, and each provider's configuration's), its meaning from
// descriptions and from the providers' Variables.
type Variable struct {
	Name    string
	Default string
	// File is true when the variable has a _FILE form.
	File bool
	Doc  string
}

// description is what the page says of a variable. Default is given only
// where Config's tag has none because the default is applied in code.
type description struct {
	Default string
	Doc     string
}

// descriptions explain every variable Config reads, by name; a variable
// without one fails TestConfigurationPage, so none goes undocumented.
var descriptions = map[string]description{
	"REDIS_URL":             {DefaultRedisURL, "`redis://[user:password@]host:port/db`, or `rediss://` for TLS"},
	"REDIS_CLUSTER_ADDRS":   {"", "`host:port,…` seed nodes of a Redis Cluster, instead of `REDIS_URL`"},
	"REDIS_SENTINEL_ADDRS":  {"", "`host:port,…` of the Sentinels, instead of `REDIS_URL`"},
	"REDIS_SENTINEL_MASTER": {"", "the master name the Sentinels watch; required with `REDIS_SENTINEL_ADDRS`"},
	"REDIS_USERNAME":        {"", "ACL user for a Cluster or behind Sentinel (`REDIS_URL` carries its own)"},
	"REDIS_PASSWORD":        {"", "password for a Cluster or behind Sentinel"},

	"ACCOUNTS_FILE":   {"", "a JSON or YAML file of accounts and their credentials, beside the variables above; reloaded when it changes and on SIGHUP (format below)"},
	"CREDENTIALS_KEY": {"", "32 bytes, base64 or 64 hex digits (`openssl rand -base64 32`), sealing the renewed OAuth tokens kept in Redis (AES-256-GCM); more keys after commas open older values, the first seals. Required with OAuth accounts"},

	"WORKER_CONCURRENCY": {"", "requests a worker makes at once (sends held for their time do not count)"},
	"WORKER_QUEUES":      {"", "queues a worker takes from, with their weights: `name=weight,…`"},
	"QUEUE_SHARDS":       {"", "asynq queues each queue is split into, by account, so that a Redis Cluster spreads one provider's sends over its masters (1 to 256); give producers and workers the same. Every command that takes a queue name takes all its shards; workers also take the shards of a count used before"},
	"SHUTDOWN_TIMEOUT":   {"", "how long a stopping worker lets in-flight sends finish"},
	"MAX_RETRY":          {"", "retries of a failed send, 0 to 1000, set on each task when it is enqueued; waits are not failures"},
	"MAX_PROVIDER_WAIT":  {"", "the longest wait a provider may ask for (`Retry-After` and its rate-limit headers); a longer one is a failure, retried with backoff"},
	"AT_MOST_ONCE":       {"", "providers (`leadconnector`, `mateo`) whose sends with an unknown outcome are archived as `unknown` instead of sent again"},
	"ARCHIVE_RETENTION":  {"", "how long an archived send is kept (never trimmed by count); at least `1h`"},
	"NO_ACCOUNT_GRACE":   {"", "how long a send whose account this worker lacks waits, spending no attempt, for a worker that has it (a rolling deploy, workers with different accounts); archived after that; `0` archives it at once"},
	"RETRY_STATUSES":     {"", "HTTP statuses retried with backoff (codes, and `5xx` for every server error); every other 4xx is permanent, 429 always waited out"},
	"RETRY_BACKOFF_BASE": {"", "the delay before the first retry, doubling with each retry, with jitter"},
	"RETRY_BACKOFF_MAX":  {"", "the longest retry delay"},
	"RESULT_RETENTION":   {"", "how long the record of a send is kept once it is made (its key taken, `enqueue status`; the worker's), or cancelled (the producer's)"},
	"RATE_LIMITS":        {"", "the providers' limits, per provider or `provider:account`; `off` turns limiting off (format below)"},
	"SEND_WINDOWS":       {"none", "named send windows an envelope or an account may name (format below); give it to the workers and to `enqueue`"},
	"RECIPIENT_CAPS":     {"none", "sends per recipient over any period (format below)"},

	"HTTP_ADDR":        {"", "where the worker serves `/healthz`, `/readyz` and `/metrics` (dev mode: a free loopback port)"},
	"MONITOR_ADDR":     {"off", "where the worker serves the asynq web UI, under `/monitor/`; off loopback it needs `MONITOR_PASSWORD`"},
	"MONITOR_USER":     {"", "the UI's basic-auth user"},
	"MONITOR_PASSWORD": {"", "the UI's basic-auth password; required when `MONITOR_ADDR` is off loopback"},
	"LOG_LEVEL":        {"", "`debug`, `info`, `warn` or `error`"},
	"LOG_FORMAT":       {"", "`json` or `console` (dev mode: `console`)"},
}

// computedDefaults are the defaults that follow from the providers, by
// variable.
var computedDefaults = map[string]func(providers.Registry) string{
	"WORKER_QUEUES": defaultQueues,
	"RATE_LIMITS":   defaultRateLimits,
}

// Variables lists the variables Config and the built-in providers read,
// each with its _FILE form folded in: Config's in its field order, the
// providers' in the registry's and their fields' order before
// ACCOUNTS_FILE. It fails when a variable has no description or a
// description names no variable.
func Variables() ([]Variable, error) {
	return variablesOf(builtin.Registry())
}

func variablesOf(reg providers.Registry) ([]Variable, error) {
	var vars []Variable
	seen := map[string]bool{}
	var errs []error
	// read appends the variable of field f of struct type t, described by docs.
	read := func(t reflect.Type, f reflect.StructField, docs map[string]description, where string) {
		name, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			return
		}
		if opts == "file" {
			base := strings.TrimSuffix(name, "_FILE")
			for j := range vars {
				if vars[j].Name == base {
					vars[j].File = true
				}
			}
			return
		}
		d, ok := docs[name]
		if !ok {
			errs = append(errs, fmt.Errorf("config: %s (%s.%s) has no description in %s", name, t, f.Name, where))
			return
		}
		seen[name] = true
		v := Variable{Name: name, Default: f.Tag.Get("envDefault"), Doc: d.Doc}
		if v.Default == "" {
			v.Default = d.Default
		}
		if def := computedDefaults[name]; def != nil && v.Default == "" {
			v.Default = def(reg)
		}
		vars = append(vars, v)
	}
	config := reflect.TypeFor[Config]()
	for i := range config.NumField() {
		if config.Field(i).Name == "AccountsFile" {
			for _, p := range reg {
				if p.NewConfig == nil {
					continue
				}
				docs := map[string]description{}
				for name, doc := range p.Variables {
					docs[name] = description{Doc: doc}
				}
				t := reflect.TypeOf(p.NewConfig()).Elem()
				for j := range t.NumField() {
					read(t, t.Field(j), docs, "provider "+p.Name+"'s Variables")
				}
				for name := range p.Variables {
					if !seen[name] {
						errs = append(errs, fmt.Errorf("config: provider %s's Variables has %s, which its configuration does not read", p.Name, name))
					}
				}
			}
		}
		read(config, config.Field(i), descriptions, "descriptions")
	}
	for name := range descriptions {
		if !seen[name] {
			errs = append(errs, fmt.Errorf("config: descriptions has %s, which Config does not read", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return vars, nil
}

// Page markers: docs/configuration.md's generated table lies between them.
const (
	BeginGenerated = "<!-- BEGIN GENERATED by go generate ./config: do not edit -->"
	EndGenerated   = "<!-- END GENERATED -->"
)

// ReferenceTable renders Variables as the Markdown table of
// docs/configuration.md, markers included.
func ReferenceTable() (string, error) {
	vars, err := Variables()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(BeginGenerated + "\n\n")
	b.WriteString("| variable | default | meaning |\n| --- | --- | --- |\n")
	for _, v := range vars {
		name := "`" + v.Name + "`"
		if v.File {
			name += " (`_FILE`)"
		}
		def := v.Default
		if def != "" && def != "none" && def != "off" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, def, v.Doc)
	}
	b.WriteString("\n" + EndGenerated)
	return b.String(), nil
}

// UpdatePage returns page with the text between its markers replaced by
// ReferenceTable; it fails when page lacks the markers.
func UpdatePage(page string) (string, error) {
	table, err := ReferenceTable()
	if err != nil {
		return "", err
	}
	begin := strings.Index(page, BeginGenerated)
	end := strings.Index(page, EndGenerated)
	if begin < 0 || end < begin {
		return "", fmt.Errorf("config: the page has no %q … %q markers", BeginGenerated, EndGenerated)
	}
	return page[:begin] + table + page[end+len(EndGenerated):], nil
}
