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
	// StateAppRefused is an account waiting while HighLevel's OAuth server
	// refuses the app itself (LEADCONNECTOR_CLIENT_ID, _SECRET): its chain
	// is kept, and renewed once the app is taken again.
	StateAppRefused = "app_refused"
	// StateRenewalRefused is an account whose renewal was refused by an
	// answer that names neither its refresh token nor the app: its chain
	// is kept, and its renewal tried again after heldFor.
	StateRenewalRefused = "renewal_refused"
)

const (
	stateOK int32 = iota
	stateRefreshing
	stateReauth
	stateAppRefused
	stateRenewalRefused
)

var stateNames = [...]string{StateOK, StateRefreshing, StateReauth, StateAppRefused, StateRenewalRefused}

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
	// appProbeEvery is how often a process asks the OAuth server again
	// while it refuses the app: one token request and one log line a
	// minute, whatever the number of accounts and sends.
	appProbeEvery = time.Minute
	// heldFor is how long an account waits after a refusal that names
	// neither its refresh token nor the app.
	heldFor = time.Minute
	// storeEvery is how often a renewed token that Redis could not keep is
	// offered to it again.
	storeEvery = 500 * time.Millisecond
)

// appKey tells `enqueue accounts` that a worker's OAuth app is refused:
// the reason, lasting two probes.
const appKey = "punctual:credentials:app_refused"

// hold is a wait of renewals: until when, since when it has lasted, why.
type hold struct {
	until, since time.Time
	reason       string
}

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
	// held is the wait after a refusal that could not tell whose it was.
	held atomic.Pointer[hold]
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
	// unsaved is the record of this token while Redis has not kept it
	// (it failed when the token was renewed): the newest refresh token is
	// in this process only, and is stored as soon as Redis answers.
	unsaved *record
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
	if err := m.waiting(a, l); err != nil {
		return "", err
	}
	key := keyOf(a.Provider, a.Name, chainOf(l.seed))
	// A token renewed while Redis failed is kept first: its refresh token
	// is the newest, and the one Redis holds is spent.
	if err := m.flush(ctx, a, key, l); err != nil {
		return "", err
	}
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
		got, err := lock.Run(ctx, m.rdb, []string{key + ":lock"}, m.owner, lockFor.Milliseconds()).Int()
		if err != nil {
			return "", fmt.Errorf("redis: %w", err)
		}
		if got == 1 {
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
	var wait *send.WaitError
	switch {
	case errors.As(err, &refused) && refused.kind == refusedGrant:
		if _, serr := m.store(ctx, key, record{Seed: l.seed[:]}, refused.Reason); serr != nil {
			m.log.Warn("could not keep an account's state", zap.String("account", a.Name), zap.Error(serr))
		}
		return "", m.park(a, l, refused.Reason)
	case errors.As(err, &refused) && refused.kind == refusedApp:
		return "", m.appRefused(ctx, a, l, refused)
	case errors.As(err, &refused):
		return "", m.holdAccount(a, l, refused.Reason)
	case errors.As(err, &wait):
		m.setState(a, l, stateOK, "")
		return "", err
	case err != nil:
		m.setState(a, l, stateOK, "")
		if errors.Is(err, errNoAnswer) {
			m.log.Warn("renewing a token got no answer: its refresh token may be spent", zap.String("provider", a.Provider), zap.String("account", a.Name), zap.Error(err))
		}
		return "", fmt.Errorf("renewing the token of %s account %q: %w", a.Provider, a.Name, err)
	}
	m.appTaken(ctx)
	rec := record{Seed: l.seed[:], Access: got.Access, Refresh: got.Refresh, Issued: time.Now(), Expires: got.Expires}
	t := &token{access: got.Access, issued: rec.Issued, expires: got.Expires, refreshWith: got.Refresh}
	if t.generation, err = m.storeRetrying(ctx, key, rec); err != nil {
		// The refresh token is spent and its successor is in this process
		// only: it is the one redeemed next, and it is stored as soon as
		// Redis answers (flush). Until then the other processes cannot
		// renew the account; a restart meanwhile loses the chain.
		m.log.Error("renewed a token but could not keep it in Redis yet: kept in this process, stored once Redis answers", zap.String("account", a.Name), zap.Error(err))
		t.generation, t.unsaved = prev.gen()+1, &rec
		go m.keepStoring(a, l, key, t)
	}
	if got.Access == "" {
		// The chain goes on with the refresh token the answer gave.
		m.adopt(a, l, t)
		return "", m.holdAccount(a, l, "the token answer had no access_token")
	}
	m.log.Debug("token renewed", zap.String("provider", a.Provider), zap.String("account", a.Name), zap.Int64("generation", t.generation), zap.Time("expires_at", t.expires))
	m.adopt(a, l, t)
	return t.access, nil
}

// flush stores the account's token that Redis has not kept yet, if any.
// The caller holds l.mu.
func (m *Manager) flush(ctx context.Context, a *Account, key string, l *live) error {
	t := l.cur.Load()
	if t == nil || t.unsaved == nil {
		return nil
	}
	gen, err := m.store(ctx, key, *t.unsaved, "")
	if err != nil {
		return err
	}
	kept := *t
	kept.generation, kept.unsaved = gen, nil
	l.cur.CompareAndSwap(t, &kept)
	m.log.Info("a renewed token kept in Redis now that it answers", zap.String("provider", a.Provider), zap.String("account", a.Name))
	return nil
}

// keepStoring offers Redis the renewed token t until it keeps it, a newer
// token replaces it, the account's credential changes, or the client is
// closed.
func (m *Manager) keepStoring(a *Account, l *live, key string, t *token) {
	for {
		time.Sleep(storeEvery)
		l.mu.Lock()
		if v, ok := m.live.Load(id{a.Provider, a.Name}); !ok || v != l || l.cur.Load() != t {
			l.mu.Unlock()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := m.flush(ctx, a, key, l)
		cancel()
		l.mu.Unlock()
		if err == nil || errors.Is(err, redis.ErrClosed) {
			return
		}
	}
}

// waiting returns the wait of a renewal that is not to be tried yet: the
// app refused a moment ago, or the account's last renewal refused with
// no telling whose fault it was.
func (m *Manager) waiting(a *Account, l *live) error {
	now := time.Now()
	if h := m.app.Load(); h != nil && now.Before(h.until) {
		m.setState(a, l, stateAppRefused, h.reason)
		return &send.WaitError{Wait: min(max(now.Sub(h.since)/4, parkMin), parkMax), Err: &AppRefusedError{Reason: h.reason}}
	}
	if h := l.held.Load(); h != nil && now.Before(h.until) {
		return &send.WaitError{Wait: h.until.Sub(now), Err: fmt.Errorf("%s account %q: the OAuth server refused its renewal (%s); its chain is kept and renewed again in %s", a.Provider, a.Name, h.reason, h.until.Sub(now).Round(time.Second))}
	}
	return nil
}

// appRefused records that the OAuth server refuses the app: renewals
// wait appProbeEvery on this process, with one log line a minute, and
// `enqueue accounts` shows it. No chain is touched.
func (m *Manager) appRefused(ctx context.Context, a *Account, l *live, e *RefusedError) error {
	now := time.Now()
	since := now
	if prev := m.app.Load(); prev != nil {
		since = prev.since
	}
	m.app.Store(&hold{until: now.Add(appProbeEvery), since: since, reason: e.Reason})
	if last := m.appLogged.Load(); now.UnixNano()-last >= int64(appProbeEvery) && m.appLogged.CompareAndSwap(last, now.UnixNano()) {
		m.log.Error("HighLevel's OAuth server refuses the app: check LEADCONNECTOR_CLIENT_ID and LEADCONNECTOR_CLIENT_SECRET; renewals wait, every account keeps its chain",
			zap.String("reason", e.Reason), zap.Duration("since", now.Sub(since).Round(time.Second)))
	}
	if err := m.rdb.Set(context.WithoutCancel(ctx), appKey, e.Reason, 2*appProbeEvery).Err(); err != nil {
		m.log.Debug("could not tell `enqueue accounts` of the app's refusal", zap.Error(err))
	}
	return m.waiting(a, l)
}

// appTaken ends a refusal of the app, once a renewal succeeds, here and
// in `enqueue accounts` (where another worker, restarted with the right
// secret, ends what this one had said).
func (m *Manager) appTaken(ctx context.Context) {
	if h := m.app.Swap(nil); h != nil {
		m.appLogged.Store(0)
		m.log.Info("HighLevel's OAuth server takes the app again: renewals resume", zap.Duration("refused_for", time.Since(h.since).Round(time.Second)))
	}
	if err := m.rdb.Del(context.WithoutCancel(ctx), appKey).Err(); err != nil {
		m.log.Debug("could not tell `enqueue accounts` the app is taken again", zap.Error(err))
	}
}

// holdAccount makes the account's renewals wait heldFor after a refusal
// that could not tell whose fault it was, keeping its chain; it says so
// once per hold.
func (m *Manager) holdAccount(a *Account, l *live, reason string) error {
	now := time.Now()
	l.held.Store(&hold{until: now.Add(heldFor), since: now, reason: reason})
	l.state.Store(stateRenewalRefused)
	m.log.Warn("the OAuth server refused a renewal without saying whether the refresh token or the app: the chain is kept, renewed again later",
		zap.String("provider", a.Provider), zap.String("account", a.Name), zap.String("reason", reason), zap.Duration("retry_in", heldFor))
	return m.waiting(a, l)
}

// redeem asks the OAuth server for the account's next token.
func (m *Manager) redeem(ctx context.Context, a *Account, prev *token) (issued, error) {
	if a.Kind == KindAgencyLocation {
		return m.mint(ctx, a)
	}
	refresh := a.RefreshToken
	switch {
	case prev != nil && prev.refreshWith != "":
		refresh = prev.refreshWith
	case prev != nil && prev.access != "":
		// The last answer gave an access token and no refresh token.
		return issued{}, &RefusedError{Status: 200, Reason: "the last token answer had no refresh_token", kind: refusedGrant}
	}
	got, err := m.oauth.refresh(ctx, refresh, a.userType())
	if err != nil {
		return got, err
	}
	return got, a.owns(got)
}

// owns checks that a token answer is of the account: a refresh token
// pasted into another location's (or agency's) entry is caught at its
// first renewal, before a message is sent as the wrong location.
func (a *Account) owns(got issued) error {
	var whose string
	switch {
	case got.UserType != "" && got.UserType != a.userType():
		whose = "a " + got.UserType + " token, not a " + a.userType() + " one"
	case a.Kind != KindAgency && got.LocationID != "" && got.LocationID != a.LocationID:
		whose = "of location " + got.LocationID + ", not " + a.LocationID
	case a.Kind == KindAgency && got.CompanyID != "" && got.CompanyID != a.CompanyID:
		whose = "of company " + got.CompanyID + ", not " + a.CompanyID
	default:
		return nil
	}
	return &RefusedError{Status: 200, Reason: "the token answer is " + whose + ": the entry's credential is another account's", kind: refusedGrant}
}

// mint gets a location's token with its agency's, renewing the agency's
// once when the OAuth server refuses it.
func (m *Manager) mint(ctx context.Context, a *Account) (issued, error) {
	agency := m.set.Load().get(a.Provider, a.Agency)
	if agency == nil {
		return issued{}, &RefusedError{Reason: "agency " + a.Agency + " gone from ACCOUNTS_FILE", kind: refusedGrant}
	}
	for try := 0; ; try++ {
		agencyToken, err := m.token(ctx, a.Provider, a.Agency)
		if err != nil {
			return issued{}, fmt.Errorf("the token of agency %q: %w", a.Agency, err)
		}
		got, err := m.oauth.locationToken(ctx, agencyToken, agency.CompanyID, a.LocationID)
		var refused *RefusedError
		if try == 0 && errors.As(err, &refused) && refused.Status == 401 && m.Refused(ctx, a.Provider, a.Agency, agencyToken) {
			continue
		}
		if err != nil {
			return got, err
		}
		return got, a.owns(got)
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

// lock takes a lock for its owner, or takes it again when the owner
// holds it still (its unlock failed while Redis did): one process's
// renewals are serialized by l.mu, so such a lock is a stale one of its own.
var lock = redis.NewScript(`local v = redis.call("GET", KEYS[1]) if v == false or v == ARGV[1] then redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2]) return 1 end return 0`)

// unlock frees a lock only when its owner holds it.
var unlock = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
