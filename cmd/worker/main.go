// Command worker sends scheduled messages: it takes due tasks from Redis
// and calls Mateo and LeadConnector, until SIGINT or SIGTERM.
//
//	worker                         configured by environment variables (see README)
//	worker --dev [ENVELOPE_FILE...]  embedded Redis and provider sandbox; the
//	                               envelope files are sent a few seconds apart
//	worker health                  exits 0 when the worker on HTTP_ADDR answers /healthz
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/version"
	"github.com/punctualhq/punctual/logging"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/tracing"
	"github.com/punctualhq/punctual/worker"
)

func main() {
	run := run
	if len(os.Args) == 2 && os.Args[1] == "health" {
		run = health
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	dev := flag.Bool("dev", false, "run with an embedded Redis and a provider sandbox: nothing is kept, nothing leaves the machine")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: worker [--dev [ENVELOPE_FILE...]]\n       worker health\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Line("worker"))
		return nil
	}
	if flag.NArg() > 0 && !*dev {
		return fmt.Errorf("envelope files are for --dev; use enqueue to send them to a real worker")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	environ := environment()
	var d *devMode
	if *dev {
		var err error
		if d, err = startDev(environ); err != nil {
			return err
		}
		defer d.close()
	}
	cfg, err := config.LoadFrom(environ)
	if err != nil {
		return err
	}
	log, err := logging.New(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	redisLog, restore := logging.Dependencies(log)
	defer restore()
	redis.SetLogger(redisLog)
	traces, err := tracing.Start(ctx, "punctual-worker", log.Named("otel"))
	if err != nil {
		return err
	}
	defer flushTraces(traces, log)
	var senderOpts []senders.Option
	if traces.TracerProvider() != nil {
		senderOpts = append(senderOpts, senders.WithRoundTripper(tracing.Propagate))
	}
	wc, err := worker.ConfigFrom(cfg, senderOpts...)
	if err != nil {
		return err
	}
	w, err := worker.New(wc, log, worker.WithTracerProvider(traces.TracerProvider()))
	if err != nil {
		return err
	}
	if d != nil {
		if err := d.ready(ctx, cfg, w, log, flag.Args()); err != nil {
			return err
		}
	}
	return w.Run(ctx)
}

// flushTraces exports the spans of the last sends, once the worker has
// stopped; a collector that does not answer within traceFlush is given up.
func flushTraces(traces *tracing.Provider, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), traceFlush)
	defer cancel()
	if err := traces.Shutdown(ctx); err != nil {
		log.Warn("could not export the last spans", zap.Error(err))
	}
}

// traceFlush bounds the export of the last spans at exit.
const traceFlush = 5 * time.Second

// environment returns the process environment as a map.
func environment() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		for i := range kv {
			if kv[i] == '=' {
				env[kv[:i]] = kv[i+1:]
				break
			}
		}
	}
	return env
}
