package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/devredis"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/worker"
)

// devAccounts are each provider's accounts in dev mode; the sandbox takes
// their tokens, dev-PROVIDER-ACCOUNT, and the worker sends them.
var devAccounts = []string{"default", "acme"}

// exampleSpacing is how far apart the example envelopes fall due.
const exampleSpacing = 3 * time.Second

type devMode struct {
	redis   *devredis.Server
	sandbox *sandbox.Server
	http    *http.Server
	url     string
}

// startDev starts the embedded Redis and the sandbox and points environ at them.
func startDev(environ map[string]string) (*devMode, error) {
	r, err := devredis.Start("127.0.0.1:6379")
	if err != nil {
		if r, err = devredis.Start("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("embedded Redis: %w", err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	d := &devMode{redis: r, url: "http://" + l.Addr().String()}
	// Each provider's fake takes its accounts' tokens, which the worker
	// finds in the provider's variables: NAME_BASE_URL, NAME_TOKEN (the
	// default account) and NAME_ACCOUNTS.
	cfg := sandbox.Config{Tokens: map[string]map[string]string{}}
	environ["REDIS_URL"] = "redis://" + r.Addr() + "/0"
	for _, k := range []string{"REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_ADDRS", "REDIS_URL_FILE"} {
		delete(environ, k)
	}
	for _, f := range sandbox.Fakes() {
		env := strings.ToUpper(f.Name)
		tokens := map[string]string{}
		var more []string
		for _, account := range devAccounts {
			token := "dev-" + f.Name + "-" + account + "-token"
			tokens[token] = account
			if account != "default" {
				more = append(more, account+"="+token)
			}
		}
		cfg.Tokens[f.Name] = tokens
		environ[env+"_BASE_URL"] = d.url + f.Path
		environ[env+"_TOKEN"] = "dev-" + f.Name + "-default-token"
		environ[env+"_ACCOUNTS"] = strings.Join(more, ",")
		delete(environ, env+"_TOKEN_FILE")
		delete(environ, env+"_ACCOUNTS_FILE")
	}
	d.sandbox = sandbox.New(cfg)
	d.http = &http.Server{Handler: d.sandbox, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.http.Serve(l) }()

	for k, v := range map[string]string{"LOG_FORMAT": "console", "HTTP_ADDR": "127.0.0.1:0", "MONITOR_ADDR": "127.0.0.1:0"} {
		if environ[k] == "" {
			environ[k] = v
		}
	}
	return d, nil
}

// ready prints the banner, with the addresses w serves on, lets the
// sandbox log through log, and schedules the example envelopes a few
// seconds apart.
func (d *devMode) ready(ctx context.Context, cfg *config.Config, w *worker.Worker, log *zap.Logger, files []string) error {
	d.sandbox.SetLogger(log.Named("sandbox"))
	redisURL := "redis://" + d.redis.Addr() + "/0"
	var names []string
	var fakes strings.Builder
	for _, f := range sandbox.Fakes() {
		names = append(names, f.Name)
		fmt.Fprintf(&fakes, "  %-15s %s%s   accounts %s\n", f.Name, d.url, f.Path, strings.Join(devAccounts, ", "))
	}
	fmt.Fprintf(os.Stderr, `
  punctual worker, dev mode
  Nothing is kept: Redis is embedded and in memory, gone when this stops.
  Nothing leaves this machine: the providers (%[2]s) are a local sandbox.

  Redis           %[1]s
%[3]s  Health          http://%[4]s/healthz, /readyz, /metrics (HTTP_ADDR)
  Monitor         %[5]s

  Send more from another terminal (the same example again is a duplicate
  of the one sent: its key; change the key to send another):
    REDIS_URL=%[1]s go run ./cmd/enqueue send "$(cat examples/mateo-send-message.json)"

`, redisURL, strings.Join(names, ", "), fakes.String(), w.HealthAddr(), monitorURL(w))

	conn, err := cfg.RedisConnOpt()
	if err != nil {
		return err
	}
	p := producer.New(conn, producer.WithProviders(cfg.Registry()), producer.WithQueueShards(cfg.QueueShards))
	defer p.Close()
	return scheduleExamples(ctx, p, log, files, time.Now().Truncate(time.Second))
}

// scheduleExamples enqueues the envelopes of files exampleSpacing apart
// from start. Each keeps its key, so that sending the same file again
// with enqueue, as the banner suggests, reports a duplicate as it would
// in production; the embedded Redis starts empty, so a dev run never
// finds its examples there already (one that does says so).
func scheduleExamples(ctx context.Context, p *producer.Producer, log *zap.Logger, files []string, start time.Time) error {
	for i, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		e, err := tasks.ParseEnvelope(data, p.Providers())
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		e.ProcessAt = start.Add(time.Duration(i+1) * exampleSpacing)
		res, err := p.Enqueue(ctx, e)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if res.Duplicate {
			log.Info("example already enqueued", zap.String("file", file), zap.String("task_id", res.ID), zap.String("state", res.State))
			continue
		}
		log.Info("example scheduled", zap.String("file", file), zap.String("task_id", res.ID),
			zap.String("type", e.Type), zap.Time("due", e.ProcessAt))
	}
	return nil
}

func (d *devMode) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := d.http.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = d.http.Close()
	}
	d.redis.Close()
}

// monitorURL is where w serves the asynq web UI, or says it does not.
func monitorURL(w *worker.Worker) string {
	if w.MonitorAddr() == "" {
		return "off (MONITOR_ADDR)"
	}
	return "http://" + w.MonitorAddr() + "/monitor/"
}
