// Command worker sends scheduled messages: it takes due tasks from Redis
// and calls Mateo and LeadConnector, until SIGINT or SIGTERM.
//
//	worker                         configured by environment variables (docs/configuration.md)
//	worker --dev [ENVELOPE_FILE...]  embedded Redis and provider sandbox; the
//	                               envelope files are sent a few seconds apart
//	worker health                  exits 0 when the worker on HTTP_ADDR answers /healthz
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
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
	if len(os.Args) >= 2 && os.Args[1] == "health" {
		run = health
		if len(os.Args) > 2 {
			run = func() error {
				return errors.New("usage: worker health (no arguments; it checks the worker on HTTP_ADDR)")
			}
		}
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
		fmt.Fprintf(os.Stderr, "usage: worker [--dev [ENVELOPE_FILE...]]\n       worker health    exit 0 when the worker on HTTP_ADDR answers /healthz\n\n")
		flag.PrintDefaults()
		fmt.Fprintf(os.Stderr, "\nThe worker reads its configuration from the environment: every variable, its default\nand its format are in docs/configuration.md.\n")
	}
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Line("worker"))
		return nil
	}
	if flag.NArg() > 0 && !*dev {
		return fmt.Errorf("unknown argument %q: the commands are worker [--dev [ENVELOPE_FILE...]] and worker health (see --help); envelope files are for --dev, enqueue sends them to a real worker", flag.Arg(0))
	}
	var logger atomic.Pointer[zap.Logger] // for a second signal, once there is one
	ctx, stop := stopOnSignals(&logger)
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
	logger.Store(log)
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
	if err := worker.WaitForRedis(ctx, wc.Redis, wc.HTTPAddr, log); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
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

// stopOnSignals returns a context that ends at the first SIGINT or
// SIGTERM, when the worker stops taking tasks and lets its sends in flight
// finish, and exits the process with status 1 at the second: whoever
// presses Ctrl-C twice, or an orchestrator that signals again, wants it
// gone now. The sends abandoned then are not lost: asynq keeps a task
// taken by a worker under a lease that the worker renews; 30 s after it
// lapses (30 s), the recoverer of a running worker, which looks once a
// minute, puts the task back to retry, or archives it as outcome unknown
// under AT_MOST_ONCE (asynq v0.26 rdb.LeaseDuration, recoverer.go). The
// returned function stops listening.
func stopOnSignals(logger *atomic.Pointer[zap.Logger]) (context.Context, func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			const msg = "second signal: exiting now; the sends in flight are abandoned and the next worker retries them once their lease has run out (one to two minutes), or archives them as outcome unknown under AT_MOST_ONCE"
			if log := logger.Load(); log != nil {
				log.Warn(msg, zap.Stringer("signal", sig))
				_ = log.Sync()
			} else {
				fmt.Fprintln(os.Stderr, "worker:", msg)
			}
			os.Exit(1)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
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
