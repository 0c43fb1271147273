package config

import (
	"fmt"
	"reflect"
	"strings"
)

//go:generate go run ./internal/gendoc ../docs/configuration.md

// Variable is one environment variable as docs/configuration.md shows it:
// its name and default come from Config's struct tags (those caarlos0/env
// reads), its meaning from descriptions.
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

	"MATEO_BASE_URL":         {"", "Mateo's API; plain `http://` only to a loopback host"},
	"MATEO_TOKEN":            {"", "the Mateo token of account `default`"},
	"MATEO_ACCOUNTS":         {"", "more Mateo accounts: `name=token,name2=token2`"},
	"LEADCONNECTOR_BASE_URL": {"", "LeadConnector's API; plain `http://` only to a loopback host"},
	"LEADCONNECTOR_VERSION":  {"", "the `Version` header of `POST /conversations/messages` (its only published value); the OAuth endpoints send their own"},
	"LEADCONNECTOR_TOKEN":    {"", "the LeadConnector (location) token of account `default`"},
	"LEADCONNECTOR_ACCOUNTS": {"", "more LeadConnector accounts: `name=token,name2=token2`"},

	"ACCOUNTS_FILE":               {"", "a JSON or YAML file of accounts and their credentials, beside the variables above; reloaded when it changes and on SIGHUP (format below)"},
	"LEADCONNECTOR_CLIENT_ID":     {"", "the HighLevel marketplace app of the OAuth accounts; set with `LEADCONNECTOR_CLIENT_SECRET`"},
	"LEADCONNECTOR_CLIENT_SECRET": {"", "the app's secret; read at start"},
	"CREDENTIALS_KEY":             {"", "32 bytes, base64 or 64 hex digits (`openssl rand -base64 32`), sealing the renewed OAuth tokens kept in Redis (AES-256-GCM); more keys after commas open older values, the first seals. Required with OAuth accounts"},

	"WORKER_CONCURRENCY": {"", "requests a worker makes at once (sends held for their time do not count)"},
	"WORKER_QUEUES":      {"", "queues a worker takes from, with their weights: `name=weight,…`"},
	"SHUTDOWN_TIMEOUT":   {"", "how long a stopping worker lets in-flight sends finish"},
	"MAX_RETRY":          {"", "retries of a failed send, 0 to 1000, set on each task when it is enqueued; waits are not failures"},
	"MAX_PROVIDER_WAIT":  {"", "the longest wait a provider may ask for (`Retry-After` and its rate-limit headers); a longer one is a failure, retried with backoff"},
	"AT_MOST_ONCE":       {"", "providers (`leadconnector`, `mateo`) whose sends with an unknown outcome are archived as `unknown` instead of sent again"},
	"ARCHIVE_RETENTION":  {"", "how long an archived send is kept (never trimmed by count); at least `1h`"},
	"NO_ACCOUNT_GRACE":   {"", "how long a send whose account this worker lacks waits, spending no attempt, for a worker that has it (a rolling deploy, workers with different accounts); archived after that; `0` archives it at once"},
	"RETRY_STATUSES":     {"", "HTTP statuses retried with backoff (codes, and `5xx` for every server error); every other 4xx is permanent, 429 always waited out"},
	"RETRY_BACKOFF_BASE": {"", "the delay before the first retry, doubling with each retry, with jitter"},
	"RETRY_BACKOFF_MAX":  {"", "the longest retry delay"},
	"RESULT_RETENTION":   {"", "how long a completed send is kept with the provider's answer (dedupe, `enqueue status`), and a cancelled one as cancelled"},
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

// Variables lists the variables Config reads, in its field order, each
// with its _FILE form folded in. It fails when a variable has no
// description or a description names no variable.
func Variables() ([]Variable, error) {
	t := reflect.TypeFor[Config]()
	var vars []Variable
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			continue
		}
		if opts == "file" {
			base := strings.TrimSuffix(name, "_FILE")
			for j := range vars {
				if vars[j].Name == base {
					vars[j].File = true
				}
			}
			continue
		}
		d, ok := descriptions[name]
		if !ok {
			return nil, fmt.Errorf("config: %s (Config.%s) has no description in descriptions", name, f.Name)
		}
		seen[name] = true
		v := Variable{Name: name, Default: f.Tag.Get("envDefault"), Doc: d.Doc}
		if v.Default == "" {
			v.Default = d.Default
		}
		vars = append(vars, v)
	}
	for name := range descriptions {
		if !seen[name] {
			return nil, fmt.Errorf("config: descriptions has %s, which Config does not read", name)
		}
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
