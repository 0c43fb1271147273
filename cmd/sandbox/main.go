// Command sandbox serves the fake Mateo and LeadConnector on its own, for
// trying the worker against misbehaving providers and for benchmarks:
//
//	sandbox --addr 127.0.0.1:8090 --limits mateo=50/s,leadconnector=50/s --server-errors 0.3
//
// Then MATEO_BASE_URL=http://127.0.0.1:8090/api/v1 and
// LEADCONNECTOR_BASE_URL=http://127.0.0.1:8090. It runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"punctual/config"
	"punctual/logging"
	"punctual/sandbox"
	"punctual/senders"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	mateoTokens := flag.String("mateo-tokens", "", "accepted Mateo tokens as account=token,...; any token when empty")
	lcTokens := flag.String("leadconnector-tokens", "", "accepted LeadConnector tokens as account=token,...; any token when empty")
	limits := flag.String("limits", "off", "per-token limits in RATE_LIMITS form: mateo=2/s+10000/24h,leadconnector=100/10s")
	var f sandbox.Faults
	flag.Float64Var(&f.ServerErrors, "server-errors", 0, "share of requests answered 503")
	flag.Float64Var(&f.ClientErrors, "client-errors", 0, "share of requests answered 400")
	flag.Float64Var(&f.Slow, "slow", 0, "share of requests answered after --slow-delay")
	flag.DurationVar(&f.SlowDelay, "slow-delay", 3*time.Second, "delay of slow answers")
	flag.Float64Var(&f.Drops, "drops", 0, "share of requests whose connection is closed without an answer")
	quiet := flag.Bool("quiet", false, "do not log each request")
	flag.Parse()

	cfg := sandbox.Config{Faults: f}
	var err error
	if cfg.MateoTokens, err = tokens(*mateoTokens); err != nil {
		return fmt.Errorf("--mateo-tokens: %w", err)
	}
	if cfg.LeadConnectorTokens, err = tokens(*lcTokens); err != nil {
		return fmt.Errorf("--leadconnector-tokens: %w", err)
	}
	rates, err := config.ParseRateLimits(*limits)
	if err != nil {
		return fmt.Errorf("--limits: %w", err)
	}
	cfg.MateoLimit, cfg.LeadConnectorLimit = limit(rates[senders.Mateo]), limit(rates[senders.LeadConnector])
	if !*quiet {
		if cfg.Logger, err = logging.New("info", "console"); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *addr, Handler: sandbox.New(cfg), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(os.Stderr, "sandbox: MATEO_BASE_URL=http://%s/api/v1 LEADCONNECTOR_BASE_URL=http://%s\n", *addr, *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if cfg.Logger != nil {
		cfg.Logger.Info("stopped", zap.String("addr", *addr))
	}
	return nil
}

// tokens reads account=token,... into the sandbox's token -> account map.
func tokens(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	m := map[string]string{}
	for i, entry := range strings.Split(s, ",") {
		name, token, ok := strings.Cut(entry, "=")
		if !ok || token == "" {
			return nil, fmt.Errorf("entry %d: want account=token", i+1)
		}
		m[token] = name
	}
	return m, nil
}

// limit turns parsed rates into a sandbox limit: a rate over a day or
// longer is the daily limit, the other the window.
func limit(rates []config.Rate) sandbox.Limit {
	var l sandbox.Limit
	for _, r := range rates {
		if r.Period >= 24*time.Hour {
			l.Daily = r.Count
		} else {
			l.Count, l.Period = r.Count, r.Period
		}
	}
	return l
}
