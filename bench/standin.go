package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// standIn is the provider stand-in: the sandbox binary in its own process,
// checking each request against the providers' schemas (always on) and
// logging every request it receives to a file.
type standIn struct {
	*proc
	// url is its address, http://127.0.0.1:PORT: MATEO_BASE_URL is url +
	// "/api/v1", LEADCONNECTOR_BASE_URL url.
	url     string
	logPath string
}

// standInOptions are the sandbox's settings beyond the defaults.
type standInOptions struct {
	// mateoTokens is --mateo-tokens (account=token,...): any token when "".
	mateoTokens string
	// limits is --limits in RATE_LIMITS form: none when "".
	limits string
}

// startStandIn builds (once per run, cached by go build) and starts the
// sandbox on a free loopback port.
func startStandIn(ctx context.Context, e *env, o standInOptions) (*standIn, error) {
	bin, err := goBuild(ctx, e, "./cmd/sandbox")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(e.tmp, "standin")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "requests.jsonl")
	args := []string{"--addr", "127.0.0.1:0", "--quiet", "--log-requests", logPath}
	if o.mateoTokens != "" {
		args = append(args, "--mateo-tokens", o.mateoTokens)
	}
	if o.limits != "" {
		args = append(args, "--limits", o.limits)
	}
	p, url, err := startProc("sandbox", bin, args, baseEnv(), func(line string) (string, bool) {
		_, rest, ok := strings.Cut(line, "LEADCONNECTOR_BASE_URL=")
		return strings.TrimSpace(rest), ok
	})
	if err != nil {
		return nil, err
	}
	return &standIn{proc: p, url: url, logPath: logPath}, nil
}

// received is one request the stand-in logged.
type received struct {
	At      time.Time       `json:"at"`
	Method  string          `json:"method"`
	Path    string          `json:"path"`
	Status  int             `json:"status"`
	Account string          `json:"account"`
	Body    json.RawMessage `json:"body"`
}

// finish stops the stand-in (it flushes its log on SIGTERM) and returns
// every request it received, in the order it logged them.
func (s *standIn) finish() ([]received, error) {
	if err := s.stop(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var reqs []received
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 8<<20)
	for n := 1; sc.Scan(); n++ {
		var r received
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("request log line %d: %w", n, err)
		}
		reqs = append(reqs, r)
	}
	return reqs, sc.Err()
}

// mateoEnv is the environment of a worker, ours or the reference, of the
// given concurrency on r, sending to s as the default Mateo account. Its
// RATE_LIMITS is the caller's to set; unset, ours uses the published limits.
func mateoEnv(r *redisServer, s *standIn, concurrency int) map[string]string {
	env := baseEnv()
	for k, v := range map[string]string{
		"REDIS_URL":              r.url(),
		"MATEO_BASE_URL":         s.url + "/api/v1",
		"MATEO_TOKEN":            benchToken,
		"LEADCONNECTOR_BASE_URL": s.url,
		"LEADCONNECTOR_TOKEN":    "bench-leadconnector-token",
		"WORKER_CONCURRENCY":     fmt.Sprint(concurrency),
		"HTTP_ADDR":              "127.0.0.1:0",
		"LOG_LEVEL":              "error",
		"SHUTDOWN_TIMEOUT":       "5s",
	} {
		env[k] = v
	}
	return env
}

// benchToken is the default Mateo account's token.
const benchToken = "bench-mateo-token"
