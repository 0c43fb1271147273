package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/sandbox"
)

// Figures of the rate-limited row: the sandbox allows perToken requests per
// second to each token; busyAccounts have a backlog; one more account sends
// a lone message while they wait.
const (
	perToken     = 50
	busyAccounts = 4
	rateWorkers  = 2
)

// rowRateLimited runs two workers against the sandbox enforcing 50
// requests per second per token, with four accounts' backlogs booked at
// enqueue (as enqueue batch does) and a fifth account's lone message.
func rowRateLimited(ctx context.Context, e *env) (Result, error) {
	n := e.scale.RateLimited
	r, err := startRedis(e)
	if err != nil {
		return Result{}, err
	}
	defer r.stop()
	tokens := map[string]string{"tok-lone": "lone"}
	var accounts []string
	for i := range busyAccounts {
		name := "busy" + strconv.Itoa(i)
		tokens["tok-"+name] = name
		accounts = append(accounts, name+"=tok-"+name)
	}
	sb := sandbox.New(sandbox.Config{
		Tokens: map[string]map[string]string{mateo.Name: tokens},
		Limits: map[string]sandbox.Limit{mateo.Name: {Count: perToken, Period: time.Second}},
	})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	limits := fmt.Sprintf("mateo=%d/s", perToken)
	environ := map[string]string{
		"REDIS_URL": r.url(), "MATEO_BASE_URL": srv.URL + "/api/v1", "LEADCONNECTOR_BASE_URL": srv.URL,
		"MATEO_ACCOUNTS": strings.Join(append(accounts, "lone=tok-lone"), ","), "RATE_LIMITS": limits,
		"WORKER_CONCURRENCY": "64", "HTTP_ADDR": "127.0.0.1:0", "SHUTDOWN_TIMEOUT": "5s",
	}
	// Each pickup of a task logs "taken" at debug level.
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	for range rateWorkers {
		w, err := startWorker(environ, log)
		if err != nil {
			return Result{}, err
		}
		defer func() { _ = w.stop() }()
	}

	parsed, err := config.ParseRateLimits(builtin.Registry(), limits)
	if err != nil {
		return Result{}, err
	}
	p := producer.New(r.conn, producer.WithRateLimits(parsed))
	defer p.Close()
	err = parallel(ctx, busyAccounts*n, enqueuers, func(ctx context.Context, i int) error {
		_, err := p.EnqueueJSON(ctx, accountEnvelope(fmt.Sprintf("busy%d", i%busyAccounts), i))
		return err
	})
	if err != nil {
		return Result{}, err
	}
	time.Sleep(2 * time.Second) // the backlogs are being sent
	lone := time.Now()
	if _, err := p.EnqueueJSON(ctx, accountEnvelope("lone", busyAccounts*n)); err != nil {
		return Result{}, err
	}
	sends := busyAccounts*n + 1
	within := time.Duration(n)*time.Second/perToken*2 + 30*time.Second
	// A send that reaches a worker late for its slot waits for a new one in
	// asynq's retry state, spending no attempt: asynq counts it neither
	// processed nor failed, and only a failed attempt fails the row.
	_, err = waitSent(ctx, within, r, "mateo", sends, nil)
	if err != nil {
		return Result{}, err
	}
	return rateLimitedResult(sb.Requests(), tokens, lone, sends, logs.FilterMessage("taken").Len()), nil
}

// accountEnvelope is a Mateo send due now for account.
func accountEnvelope(account string, i int) []byte {
	return []byte(fmt.Sprintf(`{"type":"mateo:send_message","account":%q,"payload":%s}`, account, mateoPayload(i, "", payloadSize)))
}

// rateLimitedResult reads the sandbox's requests: each busy account's rate
// against the allowed one, the share of 429s, pickups per send, and how
// late the lone message went.
func rateLimitedResult(reqs []sandbox.Request, tokens map[string]string, lone time.Time, sends, taken int) Result {
	sent := map[string][]time.Time{}
	limited := 0
	var loneAt time.Time
	for _, req := range reqs {
		account := tokens[strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")]
		switch {
		case req.Status == http.StatusTooManyRequests:
			limited++
		case account == "lone":
			loneAt = req.At
		default:
			sent[account] = append(sent[account], req.At)
		}
	}
	worst := float64(perToken)
	for _, at := range sent {
		slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
		if len(at) > 1 {
			worst = min(worst, float64(len(at)-1)/at[len(at)-1].Sub(at[0]).Seconds())
		}
	}
	share := float64(limited) / float64(len(reqs))
	pickups := float64(taken) / float64(sends)
	late := loneAt.Sub(lone)
	pass := worst >= 0.9*perToken && share <= 0.001 && pickups <= 1.2 && !loneAt.IsZero() && late <= time.Second
	return Result{
		Measured: fmt.Sprintf("%.1f/s, %d×429, %.2f pickups, lone +%s", worst, limited, pickups, ms(late)),
		Value:    fmt.Sprintf("%.0f%% of %d/s", 100*worst/perToken, perToken),
		Pass:     pass,
		Notes: []string{
			fmt.Sprintf("rate-limited: %d accounts × %d sends booked at enqueue, %d workers, sandbox at %d/s per token; slowest account %.1f/s (target ≥ 90%%), 429s %d of %d requests (target ≤ 0.1%%), %.2f pickups per send (target ≤ 1.2), the fifth account's lone message %s after it was due (target ≤ 1s)",
				busyAccounts, (sends-1)/busyAccounts, rateWorkers, perToken, worst, limited, len(reqs), pickups, ms(late)),
		},
		Numbers: map[string]float64{"slowest_rate": worst, "429_share": share, "pickups_per_send": pickups, "lone_late_s": late.Seconds()},
	}
}
