package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// publishedLimits are the providers' published limits: the worker's and
// the enqueue binary's default RATE_LIMITS, and what the stand-in enforces
// in the rows that leave RATE_LIMITS unset.
const publishedLimits = "mateo=2/s+10000/24h,leadconnector=100/10s+200000/24h"

// Mateo's 2/s: the calendar spaces an account's sends 3% wider than the
// rate (515 ms); closer than 500 ms breaks the limit.
const (
	mateoSpacing = 515 * time.Millisecond
	mateoMinGap  = 500 * time.Millisecond
)

// accountRun is what the stand-in received for sends spread over accounts.
type accountRun struct {
	reqs    []received
	due     []time.Time
	account []string // of each send
	// gap is how long after the enqueueing ended the first send was due.
	gap time.Duration
}

// accountSends sends, through our worker binary with the default limits
// (RATE_LIMITS unset), per sends from each of accounts Mateo accounts,
// send i from account i/per, due at random milliseconds over spread
// starting 2 s from now; they are enqueued by the enqueue binary's batch,
// which books their slots as users' batches do. The stand-in enforces the
// published limits per token.
func accountSends(ctx context.Context, e *env, accounts, per int, spread time.Duration) (run accountRun, err error) {
	r, err := startRedis(e)
	if err != nil {
		return run, err
	}
	defer r.stop()
	// name=token, as MATEO_ACCOUNTS and the sandbox's --mateo-tokens read them.
	names := make([]string, accounts)
	for a := range accounts {
		names[a] = fmt.Sprintf("acct%d=tok-acct%d", a, a)
	}
	sb, err := startStandIn(ctx, e, standInOptions{
		mateoTokens: "default=" + benchToken + "," + strings.Join(names, ","),
		limits:      publishedLimits,
	})
	if err != nil {
		return run, err
	}
	defer sb.stop()
	environ := mateoEnv(r, sb, 64)
	environ["MATEO_ACCOUNTS"] = strings.Join(names, ",")
	p, err := oursSide.start(ctx, e, environ)
	if err != nil {
		return run, err
	}
	defer p.stop()
	if err := waitReady(ctx, r, p); err != nil {
		return run, err
	}

	n := accounts * per
	start := time.Now().Add(2 * time.Second).Truncate(time.Millisecond)
	run.due, run.account = dueTimes(n, start, spread), make([]string, n)
	for i := range n {
		run.account[i] = fmt.Sprintf("acct%d", i/per)
	}
	enqueue, path, err := enqueueFile(ctx, e, "accounts.jsonl", n, func(i int) []byte {
		return accountLine(run.account[i], i, run.due[i].UTC().Format(time.RFC3339Nano))
	})
	defer os.Remove(path)
	if err != nil {
		return run, err
	}
	if _, err := batchFile(ctx, enqueue, enqueueEnv(r.url(), ""), path, n); err != nil {
		return run, err
	}
	run.gap = time.Until(start)
	if _, err := oursSide.waitDone(ctx, time.Until(start)+spread+time.Duration(per)*time.Second+30*time.Second, r, p, n); err != nil {
		return run, err
	}
	if err := p.stop(); err != nil {
		return run, err
	}
	run.reqs, err = sb.finish()
	return run, err
}

// accountLine is Mateo send i from account, due at processAt.
func accountLine(account string, i int, processAt string) []byte {
	return fmt.Appendf(nil, `{"type":"mateo:send_message","account":%q,"process_at":%q,"payload":%s}`,
		account, processAt, mateoPayload(i, "", payloadSize))
}

// accountsResult is the row of an account run judged as l.
func accountsResult(run accountRun, l lateness, how string) Result {
	notes := []string{how, l.note()}
	if run.gap < 0 {
		notes = append(notes, fmt.Sprintf("enqueueing ended %s after the first send was due", (-run.gap).Round(time.Millisecond)))
	}
	numbers := map[string]float64{}
	l.numbers("", numbers)
	return Result{
		Measured: l.String(),
		Value:    fmt.Sprintf("%d early / p99 %s / %d×429", l.early, ms(l.p99), l.limited),
		Pass:     l.ok(50 * time.Millisecond),
		Notes:    notes,
		Numbers:  numbers,
	}
}

// rowAccounts200 sends one message from each of many accounts, due within
// about 5 s: no limit holds any back, so each must go at its due time.
func rowAccounts200(ctx context.Context, e *env) (Result, error) {
	accounts, spread := e.scale.Accounts, 5*time.Second
	run, err := accountSends(ctx, e, accounts, 1, spread)
	if err != nil {
		return Result{}, err
	}
	l, err := judge(run.reqs, run.due)
	if err != nil {
		return Result{}, err
	}
	return accountsResult(run, l, fmt.Sprintf("%d Mateo accounts, one send each due at a random ms over %s; the worker binary at concurrency 64 and the enqueue binary's batch, RATE_LIMITS unset (the published %s); "+
		"the sandbox binary in its own process enforcing the same per token; lateness = its logged receipt minus the due time", accounts, spread, publishedLimits)), nil
}

// rowAccounts40x5 sends five messages from each of 40 accounts, due within
// 1.5 s: the limit holds most back, and each must go at the earliest time
// the limit allows.
func rowAccounts40x5(ctx context.Context, e *env) (Result, error) {
	const per, spread = 5, 1500 * time.Millisecond
	accounts := e.scale.SpacedAccounts
	run, err := accountSends(ctx, e, accounts, per, spread)
	if err != nil {
		return Result{}, err
	}
	l, err := judgeSpaced(run.reqs, run.due, run.account, mateoSpacing, mateoMinGap)
	if err != nil {
		return Result{}, err
	}
	return accountsResult(run, l, fmt.Sprintf("%d Mateo accounts × %d sends due at random ms over %s; the worker binary at concurrency 64 and the enqueue binary's batch, RATE_LIMITS unset (the published limits), the sandbox binary enforcing them; "+
		"lateness = receipt minus the earliest schedule the limit allows (per account, due times sorted, s_k = max(due_k, s_k-1 + %s)); early = before its due time, or within %s of the account's previous request",
		accounts, per, spread, mateoSpacing, mateoMinGap)), nil
}
