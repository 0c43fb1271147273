// Command sandbox serves the providers' fakes (sandbox.Register) on its
// own, for trying the worker against misbehaving providers and for
// benchmarks:
//
//	sandbox --addr 127.0.0.1:8090 --limits mateo=50/s,leadconnector=50/s --server-errors 0.3
//
// Then each provider's base URL is as its first line on stderr says, with
// the port it took when --addr asks for port 0:
// MATEO_BASE_URL=http://127.0.0.1:8090/api/v1
// LEADCONNECTOR_BASE_URL=http://127.0.0.1:8090. --PROVIDER-tokens
// (--mateo-tokens, --leadconnector-tokens) names the tokens a provider
// takes. It runs until SIGINT or SIGTERM. --log-requests FILE appends one
// JSON line per request received:
// {"at","provider","method","path","status","account","body"}, the
// receipt time in RFC 3339 with nanoseconds, the status 0 when no answer
// was given, the account named as --mateo-tokens names it (never the
// token), the body as received. The file is flushed every 200 ms and when
// the sandbox stops. --oauth CLIENT_ID:CLIENT_SECRET plays HighLevel's OAuth
// (POST /oauth/token, POST /oauth/locationToken), with access tokens that
// last --token-lifetime; --oauth-locations installs the app in locations
// and prints their first refresh tokens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/version"
	"github.com/punctualhq/punctual/logging"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/sandbox"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	fakes := sandbox.Fakes()
	tokenFlags := make([]*string, len(fakes))
	for i, f := range fakes {
		tokenFlags[i] = flag.String(f.Name+"-tokens", "", "accepted "+f.Name+" tokens as account=token,...; any token when empty")
	}
	limits := flag.String("limits", "off", "per-token limits in RATE_LIMITS form: mateo=2/s+10000/24h,leadconnector=100/10s")
	var f sandbox.Faults
	flag.Float64Var(&f.ServerErrors, "server-errors", 0, "share of requests answered 503")
	flag.Float64Var(&f.ClientErrors, "client-errors", 0, "share of requests answered 400")
	flag.Float64Var(&f.Slow, "slow", 0, "share of requests answered after --slow-delay")
	flag.DurationVar(&f.SlowDelay, "slow-delay", 3*time.Second, "delay of slow answers")
	flag.Float64Var(&f.Drops, "drops", 0, "share of requests whose connection is closed without an answer")
	oauthClient := flag.String("oauth", "", "play HighLevel's OAuth for the app CLIENT_ID:CLIENT_SECRET (any app when just :)")
	oauthLocations := flag.String("oauth-locations", "", "with --oauth: location ids to install the app in; their refresh tokens are printed on stderr")
	lifetime := flag.Duration("token-lifetime", sandbox.DefaultLifetime, "with --oauth: how long an access token lasts")
	quiet := flag.Bool("quiet", false, "do not log each request")
	logRequests := flag.String("log-requests", "", "append one JSON line per request received to this file")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Line("sandbox"))
		return nil
	}

	rates, err := config.ParseRateLimits(builtin.Registry(), *limits)
	if err != nil {
		return fmt.Errorf("--limits: %w", err)
	}
	cfg := sandbox.Config{Tokens: map[string]map[string]string{}, Limits: map[string]sandbox.Limit{}, Faults: f}
	for i, f := range fakes {
		if cfg.Tokens[f.Name], err = tokens(*tokenFlags[i]); err != nil {
			return fmt.Errorf("--%s-tokens: %w", f.Name, err)
		}
		cfg.Limits[f.Name] = limit(rates[f.Name])
	}
	if !*quiet {
		if cfg.Logger, err = logging.New("info", "console"); err != nil {
			return err
		}
	}

	if *oauthClient != "" {
		id, secret, ok := strings.Cut(*oauthClient, ":")
		if !ok {
			return errors.New("--oauth: want CLIENT_ID:CLIENT_SECRET")
		}
		cfg.OAuth = &sandbox.OAuth{ClientID: id, ClientSecret: secret, Lifetime: *lifetime}
	}
	sb := sandbox.New(cfg)
	if *oauthLocations != "" {
		if cfg.OAuth == nil {
			return errors.New("--oauth-locations: needs --oauth")
		}
		// Sandbox tokens, good for nothing else: printed to be put in ACCOUNTS_FILE.
		for _, loc := range strings.Split(*oauthLocations, ",") {
			fmt.Fprintf(os.Stderr, "sandbox: location %s refresh_token %s\n", loc, sb.Issue(sandbox.UserLocation, loc))
		}
	}
	var handler http.Handler = sb
	if *logRequests != "" {
		rl, oerr := openRequestLog(*logRequests)
		if oerr != nil {
			return fmt.Errorf("--log-requests: %w", oerr)
		}
		defer func() {
			if cerr := rl.close(); err == nil && cerr != nil {
				err = fmt.Errorf("--log-requests: %w", cerr)
			}
		}()
		handler = rl.logging(handler, sb.Provider, cfg.Tokens)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	// Serve returns as soon as Shutdown begins; the requests in flight
	// are answered (and logged) before run returns.
	shutdown := make(chan struct{})
	go func() {
		defer close(shutdown)
		<-ctx.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	bound := l.Addr().String()
	baseURLs := make([]string, len(fakes))
	for i, f := range fakes {
		baseURLs[i] = fmt.Sprintf("%s_BASE_URL=http://%s%s", strings.ToUpper(f.Name), bound, f.Path)
	}
	fmt.Fprintln(os.Stderr, "sandbox:", strings.Join(baseURLs, " "))
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-shutdown
	if cfg.Logger != nil {
		cfg.Logger.Info("stopped", zap.String("addr", bound))
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
