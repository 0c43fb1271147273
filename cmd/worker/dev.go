package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/devredis"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/worker"
)

// Dev-mode tokens: the sandbox accepts them, and the worker sends them.
const (
	devMateoToken         = "dev-mateo-token"
	devMateoAcmeToken     = "dev-mateo-acme-token"
	devLeadConnectorToken = "dev-leadconnector-token"
)

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
	d.sandbox = sandbox.New(sandbox.Config{
		MateoTokens:         map[string]string{devMateoToken: "default", devMateoAcmeToken: "acme"},
		LeadConnectorTokens: map[string]string{devLeadConnectorToken: "default"},
	})
	d.http = &http.Server{Handler: d.sandbox, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.http.Serve(l) }()

	for k, v := range map[string]string{
		"REDIS_URL":              "redis://" + r.Addr() + "/0",
		"MATEO_BASE_URL":         d.url + "/api/v1",
		"MATEO_TOKEN":            devMateoToken,
		"MATEO_ACCOUNTS":         "acme=" + devMateoAcmeToken,
		"LEADCONNECTOR_BASE_URL": d.url,
		"LEADCONNECTOR_TOKEN":    devLeadConnectorToken,
	} {
		environ[k] = v
	}
	for _, k := range []string{"REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_ADDRS", "REDIS_URL_FILE", "MATEO_TOKEN_FILE", "MATEO_ACCOUNTS_FILE", "LEADCONNECTOR_TOKEN_FILE", "LEADCONNECTOR_ACCOUNTS_FILE", "LEADCONNECTOR_ACCOUNTS"} {
		delete(environ, k)
	}
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
	fmt.Fprintf(os.Stderr, `
  punctual worker, dev mode
  Nothing is kept: Redis is embedded and in memory, gone when this stops.
  Nothing leaves this machine: Mateo and LeadConnector are a local sandbox.

  Redis           %s
  Mateo           %s   accounts default, acme
  LeadConnector   %s
  Health          http://%[4]s/healthz, /readyz, /metrics (HTTP_ADDR)
  Monitor         %[5]s

  Send more from another terminal:
    REDIS_URL=%[1]s go run ./cmd/enqueue send "$(cat examples/mateo-send-message.json)"

`, redisURL, cfg.MateoBaseURL, cfg.LeadConnectorBaseURL, w.HealthAddr(), monitorURL(w))

	conn, err := cfg.RedisConnOpt()
	if err != nil {
		return err
	}
	p := producer.New(conn)
	defer p.Close()
	start := time.Now().Truncate(time.Second)
	for i, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		e, err := tasks.ParseEnvelope(data)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		e.ProcessAt = start.Add(time.Duration(i+1) * exampleSpacing)
		e.Key = ""
		res, err := p.Enqueue(ctx, e)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
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
