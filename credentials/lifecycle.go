package credentials

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/internal/pause"
	"github.com/punctualhq/punctual/send"
)

// The states of an account, as `enqueue accounts` and the metric name them.
const (
	StateOK         = "ok"
	StateRefreshing = "refreshing"
	StateReauth     = "reauth_needed"
)

const (
	stateOK int32 = iota
	stateRefreshing
	stateReauth
)

var stateNames = [...]string{StateOK, StateRefreshing, StateReauth}

// Timing of renewals.
const (
	// maxAhead is how long before its expiry a token is renewed at most;
	// a token is renewed a fifth of its lifetime ahead when that is less.
	maxAhead = 5 * time.Minute
	// lockFor bounds how long a process may hold an account's refresh
	// token: longer than a request to the OAuth server, twice over (an
	// agency's token may be renewed on the way).
	lockFor = 4 * oauthTimeout
	// pollEvery is how often a process waiting for another's renewal looks.
	pollEvery = 25 * time.Millisecond
	// keepFor is how long Redis keeps an account's chain untouched: as
	// long as the refresh token it holds lasts (HighLevel's, a year), so
	// that an account idle for months still renews.
	keepFor = 366 * 24 * time.Hour
	// parkMin and parkMax bound how long a send of an account that needs
	// reauthorization waits before it looks again: a quarter of the time
	// the account has been waiting.
	parkMin, parkMax = time.Second, 5 * time.Minute
	// rejectedFor is how long an account whose renewed token was refused
	// too waits before it renews again: one token request per account
	// that long, not one per send.
	rejectedFor = parkMax
)

// live is what a process knows of a renewable account.
type live struct {
	// mu makes one renewal at a time per account in this process; the
	// Redis lock does it across processes.
	mu    sync.Mutex
	seed  [sha256.Size]byte
	cur   atomic.Pointer[token]
	state atomic.Int32
	// since is when the account began to wait for reauthorization (unix ns).
	since atomic.Int64
}

// token is an access token of one generation of an account's chain.
type token struct {
	access      string
	issued      time.Time
	expires     time.Time
	generation  int64
	refused     bool
	reauth      string // the reason, when the chain is broken
	refreshWith string // the refresh token that continues the chain
}

func (t *token) gen() int64 {
	if t == nil {
		return -1
	}
	return t.generation
}

// usable reports whether t may still be sent with, renewing it ahead of its expiry.
func (t *token) usable(now time.Time) bool {
	if t == nil || t.refused || t.access == "" {
		return false
	}
	ahead := min(maxAhead, t.expires.Sub(t.issued)/5)
	return now.Before(t.expires.Add(-ahead))
}

// record is an account's chain as sealed in Redis.
type record struct {
	Seed    []byte    `json:"seed"`
	Access  string    `json:"access,omitempty"`
	Refresh string    `json:"refresh,omitempty"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
}

// keyOf is the Redis key of an account's chain from one credential of
// the file (chainOf): while a new file reaches every replica, one still
// reading the previous file keeps to its own chain and cannot overwrite
// the new one. Its lock is keyOf+":lock". The braces make one hash tag
// per account, for Redis Cluster.
func keyOf(provider, name, chain string) string {
	return "punctual:credentials:{" + provider + ":" + name + "}:" + chain
}

// chainOf names the chain a credential of the file starts.
func chainOf(seed [sha256.Size]byte) string { return hex.EncodeToString(seed[:8]) }

func hashOf(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

// renew gives the account a token newer than generation stale: one
// another process stored, or one this process redeems holding the
// account's lock.
func (m *Manager) renew(ctx context.Context, a *Account, l *live, stale int64) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.cur.Load(); t.gen() > stale && t.usable(time.Now()) {
		return t.access, nil
	}
	key := keyOf(a.Provider, a.Name, chainOf(l.seed))
	for {
		t, err := m.load(ctx, key, l)
		if err != nil {
			return "", err
		}
		if t != nil && t.reauth != "" {
			return "", m.park(a, l, t.reauth)
		}
		if t.gen() > stale && t.usable(time.Now()) {
			m.adopt(a, l, t)
			return t.access, nil
		}
		got, err := m.rdb.SetArgs(ctx, key+":lock", m.owner, redis.SetArgs{Mode: "NX", TTL: lockFor}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return "", fmt.Errorf("redis: %w", err)
		}
		if got == "OK" {
			return m.redeemLocked(ctx, a, l, stale)
		}
		m.setState(a, l, stateRefreshing, "")
		if err := pause.For(ctx, pollEvery); err != nil {
			return "", err
		}
	}
}

// redeemLocked renews the account's token holding its lock, unless the
// process that held it before did.
func (m *Manager) redeemLocked(ctx context.Context, a *Account, l *live, stale int64) (string, error) {
	key := keyOf(a.Provider, a.Name, chainOf(l.seed))
	defer func() {
		// Not ctx: the lock is freed even when the send gave up.
		if err := unlock.Run(context.WithoutCancel(ctx), m.rdb, []string{key + ":lock"}, m.owner).Err(); err != nil {
			m.log.Warn("could not free an account's lock; it lapses", zap.String("account", a.Name), zap.Error(err))
		}
	}()
	prev, err := m.load(ctx, key, l)
	switch {
	case err != nil:
		return "", err
	case prev != nil && prev.reauth != "":
		return "", m.park(a, l, prev.reauth)
	case prev.gen() > stale && prev.usable(time.Now()):
		m.adopt(a, l, prev)
		return prev.access, nil
	}
	m.setState(a, l, stateRefreshing, "")
	got, err := m.redeem(ctx, a, prev)
	var refused *RefusedError
	switch {
	case errors.As(err, &refused) && !refused.appFault():
		reason := refused.Code
		if reason == "" {
			reason = "refused with " + strconv.Itoa(refused.Status)
		}
		if _, serr := m.store(ctx, key, record{Seed: l.seed[:]}, reason); serr != nil {
			m.log.Warn("could not keep an account's state", zap.String("account", a.Name), zap.Error(serr))
		}
		return "", m.park(a, l, reason)
	case err != nil:
		m.setState(a, l, stateOK, "")
		if errors.Is(err, errNoAnswer) {
			m.log.Warn("renewing a token got no answer: its refresh token may be spent", zap.String("provider", a.Provider), zap.String("account", a.Name), zap.Error(err))
		}
		if refused != nil {
			m.log.Error("the OAuth server refused the app: check LEADCONNECTOR_CLIENT_ID and LEADCONNECTOR_CLIENT_SECRET", zap.String("account", a.Name), zap.Error(err))
			return "", &send.WaitError{Wait: parkMax, Err: err}
		}
		return "", fmt.Errorf("renewing the token of %s account %q: %w", a.Provider, a.Name, err)
	}
	rec := record{Seed: l.seed[:], Access: got.Access, Refresh: got.Refresh, Issued: time.Now(), Expires: got.Expires}
	t := &token{access: got.Access, issued: rec.Issued, expires: got.Expires, refreshWith: got.Refresh}
	if t.generation, err = m.storeRetrying(ctx, key, rec); err != nil {
		// The refresh token is spent: without its successor kept, the
		// chain is lost for the other processes and after a restart.
		m.log.Error("renewed a token but could not keep it in Redis", zap.String("account", a.Name), zap.Error(err))
	}
	m.log.Debug("token renewed", zap.String("provider", a.Provider), zap.String("account", a.Name), zap.Int64("generation", t.generation), zap.Time("expires_at", t.expires))
	m.adopt(a, l, t)
	return t.access, nil
}

// redeem asks the OAuth server for the account's next token.
func (m *Manager) redeem(ctx context.Context, a *Account, prev *token) (issued, error) {
	if a.Kind == KindAgencyLocation {
		return m.mint(ctx, a)
	}
	refresh := a.RefreshToken
	if prev != nil && prev.refreshWith != "" {
		refresh = prev.refreshWith
	}
	got, err := m.oauth.refresh(ctx, refresh, a.userType())
	if err == nil && got.Refresh == "" {
		return got, &RefusedError{Status: 200, Code: "no refresh_token in the answer"}
	}
	return got, err
}

// mint gets a location's token with its agency's, renewing the agency's
// once when the OAuth server refuses it.
func (m *Manager) mint(ctx context.Context, a *Account) (issued, error) {
	agency := m.set.Load().get(a.Provider, a.Agency)
	if agency == nil {
		return issued{}, &RefusedError{Code: "agency " + a.Agency + " gone from ACCOUNTS_FILE"}
	}
	for try := 0; ; try++ {
		agencyToken, err := m.Token(ctx, a.Provider, a.Agency)
		if err != nil {
			return issued{}, fmt.Errorf("the token of agency %q: %w", a.Agency, err)
		}
		got, err := m.oauth.locationToken(ctx, agencyToken, agency.CompanyID, a.LocationID)
		var refused *RefusedError
		if try == 0 && errors.As(err, &refused) && refused.Status == 401 && m.Refused(ctx, a.Provider, a.Agency, agencyToken) {
			continue
		}
		return got, err
	}
}

// Rejected tells that the provider answered 401 to a token renewed
// for a 401 a moment before: the credential is refused, not its age (an
// app without a scope the request needs, a token not of the location).
// Renewing again at once would be refused as well, so the account is
// reauth_needed on every replica for rejectedFor; then its next 401
// renews it once more, in case the provider had failed for a while.
func (m *Manager) Rejected(ctx context.Context, provider, name, token string) {
	s := m.set.Load()
	a := s.get(provider, name)
	if a == nil || !a.renewable() {
		return
	}
	l := m.liveOf(s, a)
	m.Refused(ctx, provider, name, token)
	const reason = "a renewed token refused too (401)"
	m.setState(a, l, stateReauth, reason)
	if err := m.rdb.Set(ctx, keyOf(a.Provider, a.Name, chainOf(l.seed))+":hold", reason, rejectedFor).Err(); err != nil {
		m.log.Warn("could not keep an account's state", zap.String("account", a.Name), zap.Error(err))
	}
}

// adopt makes t the account's token in this process.
func (m *Manager) adopt(a *Account, l *live, t *token) {
	l.cur.Store(t)
	m.setState(a, l, stateOK, "")
}

// park marks the account as needing a new credential and returns the wait
// of its sends.
func (m *Manager) park(a *Account, l *live, reason string) error {
	m.setState(a, l, stateReauth, reason)
	waited := time.Since(time.Unix(0, l.since.Load()))
	return &send.WaitError{Wait: min(max(waited/4, parkMin), parkMax), Err: &ReauthError{Provider: a.Provider, Account: a.Name, Reason: reason}}
}

// setState records the account's state, with one log line when it comes
// to or leaves reauth_needed: an alert, not a flood.
func (m *Manager) setState(a *Account, l *live, s int32, reason string) {
	was := l.state.Swap(s)
	switch {
	case was == s:
	case s == stateReauth:
		l.since.Store(time.Now().UnixNano())
		m.log.Error("account needs a new credential in ACCOUNTS_FILE: its sends wait", zap.String("provider", a.Provider),
			zap.String("account", a.Name), zap.String("kind", string(a.Kind)), zap.String("reason", reason))
	case was == stateReauth:
		m.log.Info("account credential renewed: its sends resume", zap.String("provider", a.Provider), zap.String("account", a.Name))
	}
}

// load reads the account's chain from Redis: nil when there is none for
// the credential the file gives now, one broken (reauth) when it is kept
// but CREDENTIALS_KEY does not open it.
func (m *Manager) load(ctx context.Context, key string, l *live) (*token, error) {
	var chain *redis.MapStringStringCmd
	var hold *redis.StringCmd
	_, err := m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		chain, hold = p.HGetAll(ctx, key), p.Get(ctx, key+":hold")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis: %w", err)
	}
	h := chain.Val()
	if h["sealed"] == "" {
		return nil, nil
	}
	plain, err := m.keys.open([]byte(h["sealed"]), []byte(key))
	var rec record
	if err == nil {
		err = json.Unmarshal(plain, &rec)
	}
	if err != nil {
		// Starting again from the file would redeem a spent refresh token
		// and overwrite the chain a right key opens: the account waits.
		return &token{reauth: "CREDENTIALS_KEY: " + err.Error()}, nil
	}
	if string(rec.Seed) != string(l.seed[:]) {
		return nil, nil // kept for a credential the file no longer gives
	}
	gen, _ := strconv.ParseInt(h["generation"], 10, 64)
	reason := cmp.Or(h["reason"], hold.Val())
	return &token{access: rec.Access, refreshWith: rec.Refresh, issued: rec.Issued, expires: rec.Expires, generation: gen, reauth: reason}, nil
}

// store seals rec as the account's next generation; a reason marks the
// chain broken.
func (m *Manager) store(ctx context.Context, key string, rec record, reason string) (int64, error) {
	plain, _ := json.Marshal(rec)
	state, expires := StateOK, rec.Expires.UnixMilli()
	if reason != "" {
		state, expires = StateReauth, 0
	}
	var gen *redis.IntCmd
	_, err := m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		gen = p.HIncrBy(ctx, key, "generation", 1)
		p.HSet(ctx, key, "sealed", m.keys.seal(plain, []byte(key)), "state", state, "reason", reason, "expires_at", expires)
		p.PExpire(ctx, key, keepFor)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("redis: %w", err)
	}
	return gen.Val(), nil
}

// storeRetrying stores a renewed chain, trying for a while: its refresh
// token is the only one left.
func (m *Manager) storeRetrying(ctx context.Context, key string, rec record) (int64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockFor/2)
	defer cancel()
	for {
		gen, err := m.store(ctx, key, rec, "")
		if err == nil || pause.For(ctx, 200*time.Millisecond) != nil {
			return gen, err
		}
	}
}

// unlock frees a lock only when its owner holds it.
var unlock = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
