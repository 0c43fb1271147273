package config_test

import (
	"crypto/tls"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
)

// load loads environ and fails the test on an error.
func load(t *testing.T, environ map[string]string) *config.Config {
	t.Helper()
	c, err := config.LoadFrom(environ)
	if err != nil {
		t.Fatalf("LoadFrom: %v", err)
	}
	return c
}

// loadError loads environ and checks that it fails with an error that holds
// every string of want and none of secrets.
func loadError(t *testing.T, environ map[string]string, want []string, secrets ...string) error {
	t.Helper()
	c, err := config.LoadFrom(environ)
	if err == nil {
		t.Fatalf("LoadFrom: no error, want one naming %q (config %+v)", want, c)
	}
	checkError(t, err, want, secrets...)
	return err
}

// checkError checks that err holds every string of want and none of secrets.
func checkError(t *testing.T, err error, want []string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q reveals the secret %q", err, s)
		}
	}
}

// mateoOf returns the Mateo configuration c read.
func mateoOf(c *config.Config) *mateo.Config { return c.Provider(mateo.Name).(*mateo.Config) }

// leadConnectorOf returns the LeadConnector configuration c read.
func leadConnectorOf(c *config.Config) *leadconnector.Config {
	return c.Provider(leadconnector.Name).(*leadconnector.Config)
}

// writeFile writes content to a new file in a test directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ map[string]string
	}{
		{"nothing set", map[string]string{}},
		{"empty values", map[string]string{
			"MATEO_BASE_URL": "", "LEADCONNECTOR_BASE_URL": "", "LEADCONNECTOR_VERSION": "",
			"WORKER_CONCURRENCY": "", "WORKER_QUEUES": "", "MAX_RETRY": "", "RESULT_RETENTION": "",
			"RATE_LIMITS": "", "LOG_LEVEL": "", "LOG_FORMAT": "", "REDIS_URL": "",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := load(t, tc.environ)
			for _, f := range []struct {
				name      string
				got, want any
			}{
				{"MATEO_BASE_URL", mateoOf(c).BaseURL, "https://integration.getmateo.com/api/v1"},
				{"LEADCONNECTOR_BASE_URL", leadConnectorOf(c).BaseURL, "https://services.leadconnectorhq.com"},
				{"LEADCONNECTOR_VERSION", leadConnectorOf(c).Version, "2021-04-15"},
				{"WORKER_CONCURRENCY", c.WorkerConcurrency, 64},
				{"WORKER_QUEUES", c.WorkerQueues, "mateo=2,leadconnector=2,bulk=1"},
				{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 20 * time.Second},
				{"MAX_RETRY", c.MaxRetry, 25},
				{"RESULT_RETENTION", c.ResultRetention, 168 * time.Hour},
				{"MAX_PROVIDER_WAIT", c.MaxProviderWait, time.Hour},
				{"ARCHIVE_RETENTION", c.ArchiveRetention, 90 * 24 * time.Hour},
				{"RATE_LIMITS", c.RateLimits, "mateo=2/s+10000/24h,leadconnector=100/10s+200000/24h"},
				{"HTTP_ADDR", c.HTTPAddr, ":8080"},
				{"LOG_LEVEL", c.LogLevel, "info"},
				{"LOG_FORMAT", c.LogFormat, "json"},
			} {
				if f.got != f.want {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}

			opt, err := c.RedisConnOpt()
			if err != nil {
				t.Fatalf("RedisConnOpt: %v", err)
			}
			if want := (asynq.RedisClientOpt{Addr: "127.0.0.1:6379", DB: 0}); !reflect.DeepEqual(opt, want) {
				t.Errorf("RedisConnOpt = %#v, want %#v (%s)", opt, want, config.DefaultRedisURL)
			}
			queues, err := config.ParseQueues(c.WorkerQueues)
			if err != nil {
				t.Fatalf("ParseQueues: %v", err)
			}
			if want := map[string]int{"mateo": 2, "leadconnector": 2, "bulk": 1}; !reflect.DeepEqual(queues, want) {
				t.Errorf("queues = %v, want %v", queues, want)
			}
			accounts, err := c.Accounts()
			if err != nil {
				t.Fatalf("Accounts: %v", err)
			}
			if len(accounts) != 0 {
				t.Errorf("Accounts = %v, want none", accounts)
			}
		})
	}
}

func TestRedisURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		url  string
		want asynq.RedisClientOpt
	}{
		{"host port db", "redis://redis.internal:6380/3", asynq.RedisClientOpt{Addr: "redis.internal:6380", DB: 3}},
		{"default port and db", "redis://redis.internal", asynq.RedisClientOpt{Addr: "redis.internal:6379"}},
		{"trailing slash", "redis://redis.internal:6379/", asynq.RedisClientOpt{Addr: "redis.internal:6379"}},
		{"user and password", "redis://ana:s3cret@redis.internal:6379/1",
			asynq.RedisClientOpt{Addr: "redis.internal:6379", Username: "ana", Password: "s3cret", DB: 1}},
		{"password only", "redis://:s3cret@redis.internal:6379/0",
			asynq.RedisClientOpt{Addr: "redis.internal:6379", Password: "s3cret"}},
		{"escaped password", "redis://ana:p%40ss%2Fword@redis.internal:6379/0",
			asynq.RedisClientOpt{Addr: "redis.internal:6379", Username: "ana", Password: "p@ss/word"}},
		{"IPv6", "redis://[::1]:6379/2", asynq.RedisClientOpt{Addr: "[::1]:6379", DB: 2}},
		{"TLS", "rediss://ana:s3cret@redis.example.com:6380/2", asynq.RedisClientOpt{
			Addr: "redis.example.com:6380", Username: "ana", Password: "s3cret", DB: 2,
			TLSConfig: &tls.Config{ServerName: "redis.example.com", MinVersion: tls.VersionTLS12},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := load(t, map[string]string{"REDIS_URL": tc.url})
			opt, err := c.RedisConnOpt()
			if err != nil {
				t.Fatalf("RedisConnOpt: %v", err)
			}
			if !reflect.DeepEqual(opt, tc.want) {
				t.Errorf("RedisConnOpt = %#v, want %#v", opt, tc.want)
			}
		})
	}
}

func TestRedisURLErrors(t *testing.T) {
	t.Parallel()
	const password = "s3cret"
	for _, tc := range []struct {
		name, url, reason string
	}{
		{"http scheme", "http://ana:s3cret@redis.internal:6379/0", `scheme "http"`},
		{"no scheme", "redis.internal:6379", "scheme"},
		{"db not a number", "redis://ana:s3cret@redis.internal:6379/zero", "database"},
		{"negative db", "redis://ana:s3cret@redis.internal:6379/-1", "database"},
		{"two path segments", "redis://ana:s3cret@redis.internal:6379/0/1", "database"},
		{"not a URL", "redis://ana:s3cret@redis.internal:port/0", "not a URL"},
		{"bad escape", "redis://ana:s3cret%zz@redis.internal:6379/0", "not a URL"},
		{"no host", "redis://ana:s3cret@:6379/0", "no host"},
		// An unescaped / ends the host: what follows must not be echoed.
		{"unescaped slash in password", "redis://ana:1234/s3cret@redis.internal:6379/0", "database"},
		// An unescaped ? ends the password: the rest must not be ignored.
		{"unescaped question mark in password", "redis://ana:12?s3cret@redis.internal:6379/0", "query options are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			loadError(t, map[string]string{"REDIS_URL": tc.url}, []string{"REDIS_URL", tc.reason}, password)
		})
	}
}

func TestRedisTopology(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ map[string]string
		want    asynq.RedisConnOpt
		errs    []string
	}{
		{
			name: "cluster",
			environ: map[string]string{
				"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000,10.0.0.2:7001", "REDIS_USERNAME": "ana", "REDIS_PASSWORD": "s3cret",
			},
			want: asynq.RedisClusterClientOpt{Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7001"}, Username: "ana", Password: "s3cret"},
		},
		{
			name: "sentinel",
			environ: map[string]string{
				"REDIS_SENTINEL_ADDRS": "10.0.0.1:26379,10.0.0.2:26379", "REDIS_SENTINEL_MASTER": "mymaster", "REDIS_PASSWORD": "s3cret",
			},
			want: asynq.RedisFailoverClientOpt{
				MasterName: "mymaster", SentinelAddrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}, Password: "s3cret",
			},
		},
		{
			name:    "sentinel without master",
			environ: map[string]string{"REDIS_SENTINEL_ADDRS": "10.0.0.1:26379"},
			errs:    []string{"REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_ADDRS"},
		},
		{
			name:    "cluster and sentinel",
			environ: map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000", "REDIS_SENTINEL_ADDRS": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": "m"},
			errs:    []string{"REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_ADDRS"},
		},
		{
			name:    "cluster and REDIS_URL",
			environ: map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000", "REDIS_URL": "redis://:s3cret@redis.internal:6379/0"},
			errs:    []string{"REDIS_CLUSTER_ADDRS", "REDIS_URL"},
		},
		{
			name:    "password beside REDIS_URL",
			environ: map[string]string{"REDIS_URL": "redis://redis.internal:6379/0", "REDIS_PASSWORD": "s3cret"},
			errs:    []string{"REDIS_PASSWORD", "REDIS_URL carries its own"},
		},
		{
			name:    "master without sentinels",
			environ: map[string]string{"REDIS_SENTINEL_MASTER": "mymaster"},
			errs:    []string{"REDIS_SENTINEL_MASTER: needs REDIS_SENTINEL_ADDRS"},
		},
		{
			name:    "sentinel and REDIS_URL",
			environ: map[string]string{"REDIS_SENTINEL_ADDRS": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_URL": "redis://:s3cret@redis.internal:6379/0"},
			errs:    []string{"REDIS_SENTINEL_ADDRS", "REDIS_URL"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.errs != nil {
				loadError(t, tc.environ, tc.errs, "s3cret")
				return
			}
			opt, err := load(t, tc.environ).RedisConnOpt()
			if err != nil {
				t.Fatalf("RedisConnOpt: %v", err)
			}
			if !reflect.DeepEqual(opt, tc.want) {
				t.Errorf("RedisConnOpt = %#v, want %#v", opt, tc.want)
			}
		})
	}
}

func TestSecretFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		value string            // the secret, written to the file between blanks
		extra map[string]string // what else the secret needs to be valid
		field func(*config.Config) string
	}{
		{"REDIS_URL", "redis://:s3cret@redis.internal:6379/0", nil, func(c *config.Config) string { return c.RedisURL }},
		{"REDIS_PASSWORD", "s3cret", map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000"},
			func(c *config.Config) string { return c.RedisPassword }},
		{"MATEO_TOKEN", "tok-mateo", nil, func(c *config.Config) string { return mateoOf(c).Token }},
		{"MATEO_ACCOUNTS", "acme=tok-acme,beta=tok-beta", nil, func(c *config.Config) string { return mateoOf(c).Accounts }},
		{"LEADCONNECTOR_TOKEN", "tok-lc", nil, func(c *config.Config) string { return leadConnectorOf(c).Token }},
		{"LEADCONNECTOR_ACCOUNTS", "acme=tok-acme", nil, func(c *config.Config) string { return leadConnectorOf(c).Accounts }},
	} {
		environ := func(more map[string]string) map[string]string {
			e := maps.Clone(more)
			maps.Copy(e, tc.extra)
			return e
		}
		t.Run(tc.name+"/read and trimmed", func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "  \n"+tc.value+"\n\n")
			c := load(t, environ(map[string]string{tc.name + "_FILE": path}))
			if got := tc.field(c); got != tc.value {
				t.Errorf("%s from %s_FILE = %q, want %q", tc.name, tc.name, got, tc.value)
			}
		})
		t.Run(tc.name+"/both forms", func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, tc.value)
			err := loadError(t, environ(map[string]string{tc.name + "_FILE": path, tc.name: tc.value}),
				[]string{tc.name + ":", tc.name + "_FILE", "not both"}, "s3cret", "tok-")
			if strings.Count(err.Error(), "not both") != 1 {
				t.Errorf("error %q: want one problem", err)
			}
		})
		t.Run(tc.name+"/empty file", func(t *testing.T) {
			t.Parallel()
			loadError(t, environ(map[string]string{tc.name + "_FILE": writeFile(t, " \n")}), []string{tc.name + "_FILE: the file is empty"})
		})
		t.Run(tc.name+"/missing file", func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "absent")
			loadError(t, environ(map[string]string{tc.name + "_FILE": path}), []string{tc.name + "_FILE:", path})
		})
	}
}

func TestSecretFileUsed(t *testing.T) {
	t.Parallel()
	c := load(t, map[string]string{
		"MATEO_TOKEN_FILE":            writeFile(t, "tok-m\n"),
		"LEADCONNECTOR_ACCOUNTS_FILE": writeFile(t, "acme=tok-a\n"),
		"REDIS_URL_FILE":              writeFile(t, "rediss://:s3cret@redis.example.com:6380/1\n"),
	})
	a, err := c.Accounts()
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	if want := (config.Accounts{mateo.Name: {"default": "tok-m"}, leadconnector.Name: {"acme": "tok-a"}}); !reflect.DeepEqual(a, want) {
		t.Errorf("Accounts = %v, want %v", a, want)
	}
	opt, err := c.RedisConnOpt()
	if err != nil {
		t.Fatalf("RedisConnOpt: %v", err)
	}
	want := asynq.RedisClientOpt{
		Addr: "redis.example.com:6380", Password: "s3cret", DB: 1,
		TLSConfig: &tls.Config{ServerName: "redis.example.com", MinVersion: tls.VersionTLS12},
	}
	if !reflect.DeepEqual(opt, want) {
		t.Errorf("RedisConnOpt = %#v, want %#v", opt, want)
	}
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ map[string]string
		want    config.Accounts
	}{
		{"none", map[string]string{}, config.Accounts{}},
		{"default only", map[string]string{"MATEO_TOKEN": "tok-d"},
			config.Accounts{mateo.Name: {"default": "tok-d"}}},
		{"default and more", map[string]string{"MATEO_TOKEN": "tok-d", "MATEO_ACCOUNTS": "acme=tok-a, beta = tok-b ,,"},
			config.Accounts{mateo.Name: {"default": "tok-d", "acme": "tok-a", "beta": "tok-b"}}},
		{"accounts without default", map[string]string{"LEADCONNECTOR_ACCOUNTS": "acme=tok-a"},
			config.Accounts{leadconnector.Name: {"acme": "tok-a"}}},
		{"both providers", map[string]string{
			"MATEO_TOKEN": "tok-m", "LEADCONNECTOR_TOKEN": "tok-l", "LEADCONNECTOR_ACCOUNTS": "acme.eu_1=tok-x",
		}, config.Accounts{mateo.Name: {"default": "tok-m"}, leadconnector.Name: {"default": "tok-l", "acme.eu_1": "tok-x"}}},
		{"token holding =", map[string]string{"MATEO_ACCOUNTS": "acme=tok=="},
			config.Accounts{mateo.Name: {"acme": "tok=="}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := load(t, tc.environ).Accounts()
			if err != nil {
				t.Fatalf("Accounts: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Accounts = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAccountErrors(t *testing.T) {
	t.Parallel()
	secrets := []string{"tok-d", "tok-a", "tok-b", "tok-secret"}
	for _, tc := range []struct {
		name    string
		environ map[string]string
		want    []string
	}{
		{"no token", map[string]string{"MATEO_TOKEN": "tok-d", "MATEO_ACCOUNTS": "acme=tok-a,beta"},
			[]string{"MATEO_ACCOUNTS", "entry 2", `"beta"`, "no token"}},
		{"empty token", map[string]string{"MATEO_ACCOUNTS": "acme=tok-a,beta="},
			[]string{"MATEO_ACCOUNTS", "entry 2", `"beta"`, "no token"}},
		{"duplicate", map[string]string{"MATEO_ACCOUNTS": "acme=tok-a,acme=tok-b"},
			[]string{"MATEO_ACCOUNTS", "entry 2", `"acme"`, "twice"}},
		{"duplicate default", map[string]string{"MATEO_TOKEN": "tok-d", "MATEO_ACCOUNTS": "default=tok-a"},
			[]string{"MATEO_ACCOUNTS", "entry 1", `"default"`, "twice"}},
		{"bad name", map[string]string{"MATEO_ACCOUNTS": "ac me=tok-a"},
			[]string{"MATEO_ACCOUNTS", "entry 1", "account name"}},
		{"no name", map[string]string{"MATEO_ACCOUNTS": "=tok-a"},
			[]string{"MATEO_ACCOUNTS", "entry 1", "account name"}},
		{"wrong separator", map[string]string{"MATEO_ACCOUNTS": "acme:tok-secret"},
			[]string{"MATEO_ACCOUNTS", "entry 1", "name=token"}},
		{"leadconnector", map[string]string{"LEADCONNECTOR_TOKEN": "tok-d", "LEADCONNECTOR_ACCOUNTS": "acme"},
			[]string{"LEADCONNECTOR_ACCOUNTS", "entry 1", `"acme"`, "no token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			loadError(t, tc.environ, tc.want, secrets...)
		})
	}
}

func TestAccountsMethods(t *testing.T) {
	t.Parallel()
	a, err := load(t, map[string]string{
		"MATEO_TOKEN": "tok-d", "MATEO_ACCOUNTS": "zeta=tok-z,acme=tok-a", "LEADCONNECTOR_ACCOUNTS": "beta=tok-b",
	}).Accounts()
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	for _, tc := range []struct {
		provider, account string
		want              string
		ok                bool
	}{
		{mateo.Name, "default", "tok-d", true},
		{mateo.Name, "acme", "tok-a", true},
		{mateo.Name, "beta", "", false},
		{leadconnector.Name, "beta", "tok-b", true},
		{leadconnector.Name, "default", "", false},
		{"sms", "default", "", false},
	} {
		t.Run("Token/"+tc.provider+"/"+tc.account, func(t *testing.T) {
			got, ok := a.Token(tc.provider, tc.account)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Token(%q, %q) = %q, %t, want %q, %t", tc.provider, tc.account, got, ok, tc.want, tc.ok)
			}
		})
	}
	for _, tc := range []struct {
		provider string
		want     []string
	}{
		{mateo.Name, []string{"acme", "default", "zeta"}},
		{leadconnector.Name, []string{"beta"}},
		{"sms", nil},
	} {
		t.Run("Names/"+tc.provider, func(t *testing.T) {
			if got := a.Names(tc.provider); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Names(%q) = %q, want %q", tc.provider, got, tc.want)
			}
		})
	}
}

func TestBaseURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, variable, url string
		reason              string // empty when the URL is accepted
	}{
		{"https", "MATEO_BASE_URL", "https://mateo.example.com/api/v1", ""},
		{"http to 127.0.0.1", "MATEO_BASE_URL", "http://127.0.0.1:8080/api/v1", ""},
		{"http to another loopback address", "LEADCONNECTOR_BASE_URL", "http://127.0.0.2:8080", ""},
		{"http to localhost", "LEADCONNECTOR_BASE_URL", "http://localhost:8080", ""},
		{"http to ::1", "MATEO_BASE_URL", "http://[::1]:8080/api/v1", ""},
		{"mateo http to a remote host", "MATEO_BASE_URL", "http://integration.getmateo.com/api/v1", "clear text"},
		{"mateo http to a private address", "MATEO_BASE_URL", "http://10.0.0.5:8080/api/v1", "clear text"},
		{"mateo http to a look-alike of loopback", "MATEO_BASE_URL", "http://127.0.0.1.example.com/api/v1", "clear text"},
		{"leadconnector http to a remote host", "LEADCONNECTOR_BASE_URL", "http://services.leadconnectorhq.com", "clear text"},
		{"other scheme", "LEADCONNECTOR_BASE_URL", "ftp://services.leadconnectorhq.com", "scheme"},
		{"credentials", "MATEO_BASE_URL", "https://ana:tok-secret@mateo.example.com/api/v1", "credentials"},
		{"no host", "MATEO_BASE_URL", "/api/v1", "no host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			environ := map[string]string{tc.variable: tc.url}
			if tc.reason != "" {
				loadError(t, environ, []string{tc.variable + ":", tc.reason}, "tok-secret")
				return
			}
			c := load(t, environ)
			if got := map[string]string{"MATEO_BASE_URL": mateoOf(c).BaseURL, "LEADCONNECTOR_BASE_URL": leadConnectorOf(c).BaseURL}[tc.variable]; got != tc.url {
				t.Errorf("%s = %q, want %q", tc.variable, got, tc.url)
			}
		})
	}
}

func TestParseQueues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     map[string]int
	}{
		{"default", "mateo=2,leadconnector=2,bulk=1", map[string]int{"mateo": 2, "leadconnector": 2, "bulk": 1}},
		{"one", "critical=6", map[string]int{"critical": 6}},
		{"blanks", " mateo = 3 , bulk=1 ", map[string]int{"mateo": 3, "bulk": 1}},
		{"name characters", "eu.mateo_2-x=1", map[string]int{"eu.mateo_2-x": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParseQueues(tc.in)
			if err != nil {
				t.Fatalf("ParseQueues(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseQueues(%q) = %v, want %v", tc.in, got, tc.want)
			}
			c := load(t, map[string]string{"WORKER_QUEUES": tc.in})
			if c.WorkerQueues != tc.in {
				t.Errorf("WORKER_QUEUES = %q, want %q", c.WorkerQueues, tc.in)
			}
		})
	}
}

func TestParseQueuesErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"zero", "mateo=0", []string{"entry 1", "at least 1"}},
		{"negative", "mateo=2,bulk=-1", []string{"entry 2", "at least 1"}},
		{"not a number", "mateo=high", []string{"entry 1", "whole weight"}},
		{"fraction", "mateo=1.5", []string{"entry 1", "whole weight"}},
		{"missing =", "mateo", []string{"entry 1", "name=weight"}},
		{"empty entry", "mateo=1,", []string{"entry 2", "name=weight"}},
		{"duplicate", "mateo=1,bulk=1,mateo=2", []string{"entry 3", `"mateo"`, "twice"}},
		{"bad name", "bulk queue=1", []string{"entry 1", `"bulk queue"`, "queue name"}},
		{"no name", "=1", []string{"entry 1", "queue name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParseQueues(tc.in)
			if got != nil {
				t.Errorf("ParseQueues(%q) = %v, want nil", tc.in, got)
			}
			checkError(t, err, tc.want)
			loadError(t, map[string]string{"WORKER_QUEUES": tc.in}, append([]string{"WORKER_QUEUES:"}, tc.want...))
		})
	}
}

func TestScalars(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		variable string
		value    string
		want     []string // empty when the value is accepted
	}{
		{"concurrency one", "WORKER_CONCURRENCY", "1", nil},
		{"concurrency zero", "WORKER_CONCURRENCY", "0", []string{"at least 1", "got 0"}},
		{"concurrency negative", "WORKER_CONCURRENCY", "-4", []string{"at least 1", "got -4"}},
		{"concurrency not a number", "WORKER_CONCURRENCY", "abc", []string{"whole number"}},
		{"retention", "RESULT_RETENTION", "720h", nil},
		{"retention not a duration", "RESULT_RETENTION", "abc", []string{"duration"}},
		{"retention without unit", "RESULT_RETENTION", "7", []string{"duration"}},
		{"retention zero", "RESULT_RETENTION", "0s", []string{"positive"}},
		{"retention negative", "RESULT_RETENTION", "-1h", []string{"positive"}},
		{"shutdown timeout zero", "SHUTDOWN_TIMEOUT", "0s", []string{"positive"}},
		{"max retry zero", "MAX_RETRY", "0", nil},
		{"max retry negative", "MAX_RETRY", "-1", []string{"must be 0 to 1000", "got -1"}},
		{"max retry too many", "MAX_RETRY", "1001", []string{"must be 0 to 1000", "got 1001"}},
		{"max provider wait", "MAX_PROVIDER_WAIT", "10m", nil},
		{"max provider wait zero", "MAX_PROVIDER_WAIT", "0s", []string{"MAX_PROVIDER_WAIT", "positive"}},
		{"at most once", "AT_MOST_ONCE", "leadconnector,mateo", nil},
		{"at most once unknown provider", "AT_MOST_ONCE", "leadconnector,sms", []string{"AT_MOST_ONCE", `unknown provider "sms"`}},
		{"archive retention", "ARCHIVE_RETENTION", "8760h", nil},
		{"archive retention too short", "ARCHIVE_RETENTION", "10m", []string{"ARCHIVE_RETENTION", "at least 1h"}},
		{"max retry not a number", "MAX_RETRY", "many", []string{"whole number"}},
		{"log level debug", "LOG_LEVEL", "debug", nil},
		{"log level warn", "LOG_LEVEL", "warn", nil},
		{"log level error", "LOG_LEVEL", "error", nil},
		{"log level unknown", "LOG_LEVEL", "verbose", []string{`"verbose"`}},
		{"log format console", "LOG_FORMAT", "console", nil},
		{"log format unknown", "LOG_FORMAT", "text", []string{`"text"`, "json or console"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			environ := map[string]string{tc.variable: tc.value}
			if tc.want != nil {
				loadError(t, environ, append([]string{tc.variable + ":"}, tc.want...))
				return
			}
			load(t, environ)
		})
	}
}

func TestParseRateLimits(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name, in string
		want     config.RateLimits
	}{
		{"default", "mateo=2/s+10000/24h,leadconnector=100/10s+200000/24h", config.RateLimits{
			mateo.Name:         {{Count: 2, Period: time.Second}, {Count: 10000, Period: day}},
			leadconnector.Name: {{Count: 100, Period: 10 * time.Second}, {Count: 200000, Period: day}},
		}},
		{"off", "off", nil},
		{"off with blanks", " off ", nil},
		{"per account", "mateo=2/s,mateo:acme=5/s", config.RateLimits{
			mateo.Name: {{Count: 2, Period: time.Second}}, mateo.Name + ":acme": {{Count: 5, Period: time.Second}},
		}},
		{"spaces", " mateo = 2/s , leadconnector=1/s", config.RateLimits{
			mateo.Name: {{Count: 2, Period: time.Second}}, leadconnector.Name: {{Count: 1, Period: time.Second}},
		}},
		{"account only", "leadconnector:acme.eu=10/m", config.RateLimits{leadconnector.Name + ":acme.eu": {{Count: 10, Period: time.Minute}}}},
		{"blanks", " mateo=2/s , leadconnector=1/s ", config.RateLimits{
			mateo.Name: {{Count: 2, Period: time.Second}}, leadconnector.Name: {{Count: 1, Period: time.Second}},
		}},
		{"period s", "mateo=1/s", config.RateLimits{mateo.Name: {{Count: 1, Period: time.Second}}}},
		{"period 10s", "mateo=1/10s", config.RateLimits{mateo.Name: {{Count: 1, Period: 10 * time.Second}}}},
		{"period m", "mateo=1/m", config.RateLimits{mateo.Name: {{Count: 1, Period: time.Minute}}}},
		{"period h", "mateo=1/h", config.RateLimits{mateo.Name: {{Count: 1, Period: time.Hour}}}},
		{"period 24h", "mateo=1/24h", config.RateLimits{mateo.Name: {{Count: 1, Period: day}}}},
		{"period d", "mateo=1/d", config.RateLimits{mateo.Name: {{Count: 1, Period: day}}}},
		{"period 2d", "mateo=1/2d", config.RateLimits{mateo.Name: {{Count: 1, Period: 2 * day}}}},
		{"period 500ms", "mateo=1/500ms", config.RateLimits{mateo.Name: {{Count: 1, Period: 500 * time.Millisecond}}}},
		{"period .5s", "mateo=1/.5s", config.RateLimits{mateo.Name: {{Count: 1, Period: 500 * time.Millisecond}}}},
		{"period 1m30s", "mateo=1/1m30s", config.RateLimits{mateo.Name: {{Count: 1, Period: 90 * time.Second}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParseRateLimits(builtin.Registry(), tc.in)
			if err != nil {
				t.Fatalf("ParseRateLimits(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseRateLimits(%q) = %v, want %v", tc.in, got, tc.want)
			}
			load(t, map[string]string{"RATE_LIMITS": tc.in})
		})
	}
}

func TestParseRateLimitsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"unknown provider", "mateo=1/s,sms=1/s", []string{"entry 2", `unknown provider "sms"`}},
		{"missing N", "mateo=/s", []string{"entry 1", "N at least 1"}},
		{"N not a number", "mateo=two/s", []string{"entry 1", "N at least 1"}},
		{"zero", "mateo=0/s", []string{"entry 1", "N at least 1"}},
		{"negative", "mateo=-1/s", []string{"entry 1", "N at least 1"}},
		{"no period", "mateo=1", []string{"entry 1", "N/period"}},
		{"empty period", "mateo=1/", []string{"entry 1", "period"}},
		{"bad period", "mateo=1/fortnight", []string{"entry 1", "period"}},
		{"zero period", "mateo=1/0s", []string{"entry 1", "period"}},
		{"negative period", "mateo=1/-1s", []string{"entry 1", "period"}},
		{"fractional days", "mateo=1/1.5d", []string{"entry 1", "period"}},
		{"empty rate", "mateo=1/s+", []string{"entry 1", "N/period"}},
		{"second rate bad", "leadconnector=100/10s+0/24h", []string{"entry 1", "leadconnector", `"0/24h"`}},
		{"missing =", "mateo", []string{"entry 1", "provider[:account]=N/period"}},
		{"empty", "", []string{"entry 1"}},
		{"duplicate scope", "mateo=1/s,mateo=2/s", []string{"entry 2", `"mateo"`, "twice"}},
		{"duplicate account scope", "mateo:acme=1/s,mateo=1/s,mateo:acme=1/m", []string{"entry 3", `"mateo:acme"`, "twice"}},
		{"empty account", "mateo:=1/s", []string{"entry 1", "account name"}},
		{"bad account", "mateo:ac me=1/s", []string{"entry 1", `"ac me"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParseRateLimits(builtin.Registry(), tc.in)
			if got != nil {
				t.Errorf("ParseRateLimits(%q) = %v, want nil", tc.in, got)
			}
			checkError(t, err, tc.want)
			if tc.in != "" { // an empty RATE_LIMITS is the default
				loadError(t, map[string]string{"RATE_LIMITS": tc.in}, append([]string{"RATE_LIMITS:"}, tc.want...))
			}
		})
	}
}

func TestSeveralErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ map[string]string
		files   map[string]string // _FILE variables and their files' content
		want    []string
	}{
		{"validation", map[string]string{
			"REDIS_URL": "http://:s3cret@redis.internal", "MATEO_BASE_URL": "http://mateo.example.com",
			"MATEO_ACCOUNTS": "acme", "WORKER_CONCURRENCY": "0", "WORKER_QUEUES": "bulk=0", "MAX_RETRY": "-1",
			"RESULT_RETENTION": "-1s", "RATE_LIMITS": "sms=1/s", "LOG_LEVEL": "loud", "LOG_FORMAT": "xml",
		}, nil, []string{
			"REDIS_URL:", "MATEO_BASE_URL:", "MATEO_ACCOUNTS:", "WORKER_CONCURRENCY:", "WORKER_QUEUES:", "MAX_RETRY:",
			"RESULT_RETENTION:", "RATE_LIMITS:", "LOG_LEVEL:", "LOG_FORMAT:",
		}},
		{"parsing", map[string]string{
			"WORKER_CONCURRENCY": "abc", "RESULT_RETENTION": "abc", "MAX_RETRY": "x", "SHUTDOWN_TIMEOUT": "soon",
		}, nil, []string{"WORKER_CONCURRENCY:", "RESULT_RETENTION:", "MAX_RETRY:", "SHUTDOWN_TIMEOUT:"}},
		{"secret files", map[string]string{"MATEO_TOKEN": "tok-m", "LEADCONNECTOR_TOKEN": "tok-l"},
			map[string]string{"MATEO_TOKEN_FILE": "tok-m2", "LEADCONNECTOR_TOKEN_FILE": "tok-l2"},
			[]string{"MATEO_TOKEN:", "LEADCONNECTOR_TOKEN:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			environ := maps.Clone(tc.environ)
			for k, v := range tc.files {
				environ[k] = writeFile(t, v)
			}
			err := loadError(t, environ, tc.want, "s3cret", "tok-")
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("error %q does not join its problems", err)
			}
			if got := len(joined.Unwrap()); got != len(tc.want) {
				t.Errorf("%d problems, want %d: %v", got, len(tc.want), err)
			}
		})
	}
}

func TestMonitorNeedsAPasswordOffLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ map[string]string
		wantErr bool
	}{
		{"off by default", map[string]string{}, false},
		{"loopback without a password", map[string]string{"MONITOR_ADDR": "127.0.0.1:8081"}, false},
		{"localhost without a password", map[string]string{"MONITOR_ADDR": "localhost:8081"}, false},
		{"every interface without a password", map[string]string{"MONITOR_ADDR": ":8081"}, true},
		{"every interface with a password", map[string]string{"MONITOR_ADDR": ":8081", "MONITOR_PASSWORD": "s3cret"}, false},
		{"password from a file", map[string]string{"MONITOR_ADDR": "0.0.0.0:8081", "MONITOR_PASSWORD_FILE": writeFile(t, "s3cret\n")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.wantErr {
				loadError(t, tc.environ, []string{"MONITOR_ADDR", "MONITOR_PASSWORD"})
				return
			}
			c := load(t, tc.environ)
			if c.MonitorUser != "admin" {
				t.Errorf("MONITOR_USER = %q, want admin", c.MonitorUser)
			}
		})
	}
}
