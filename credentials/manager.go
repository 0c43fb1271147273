package credentials

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/send"
	"github.com/punctualhq/punctual/tasks"
)

// Config configures a Manager.
type Config struct {
	// File is ACCOUNTS_FILE, JSON or YAML; none when empty.
	File string
	// Static are the accounts of the environment: provider -> name -> token.
	Static map[string]map[string]string
	// Providers are the providers an account of File may name: the names
	// of the worker's registry (providers.Registry.Names).
	Providers []string
	// ClientID and ClientSecret are the HighLevel app of the OAuth accounts.
	ClientID, ClientSecret string
	// Keys are CREDENTIALS_KEY; required when an account uses OAuth.
	Keys string
	// BaseURL is LeadConnector's API, its OAuth server too. The token
	// endpoints take their own Version, not LEADCONNECTOR_VERSION.
	BaseURL string
	// Redis keeps the renewed tokens, sealed, and the accounts' states.
	Redis redis.UniversalClient
	// Logger logs state changes and reloads.
	Logger *zap.Logger
	// HTTPClient asks for tokens; one with a 10 s timeout when nil.
	HTTPClient *http.Client
}

// Manager gives each account's token to send with: a static one as
// configured, an OAuth one renewed ahead of its expiry and when the
// provider refuses it, by one process at a time across all replicas. Its
// accounts are reloaded whole, atomically, from the file. It implements
// send.Tokens.
type Manager struct {
	cfg   Config
	keys  *Keys
	oauth *oauthClient
	log   *zap.Logger
	rdb   redis.UniversalClient
	// owner marks this process's Redis locks.
	owner string

	set  atomic.Pointer[set]
	live sync.Map // id -> *live
	// reloading serializes reloads; fingerprint is the file last loaded.
	reloading   sync.Mutex
	fingerprint string
	// app is the wait of every renewal while the OAuth server refuses the
	// app; appLogged when that was last logged (unix ns).
	app       atomic.Pointer[hold]
	appLogged atomic.Int64
}

var _ send.Tokens = (*Manager)(nil)

// New loads the accounts of cfg and returns their manager. Its error names
// what is wrong: an entry of the file and its field, or a variable.
func New(cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: oauthTimeout}
	}
	owner := make([]byte, 8)
	_, _ = rand.Read(owner)
	m := &Manager{
		cfg: cfg, log: cfg.Logger, rdb: cfg.Redis, owner: hex.EncodeToString(owner),
		oauth: &oauthClient{base: strings.TrimRight(cfg.BaseURL, "/"), clientID: cfg.ClientID, secret: cfg.ClientSecret, http: cfg.HTTPClient},
	}
	if cfg.File != "" && len(cfg.Providers) == 0 {
		// A wiring mistake, not a fault of the file: every entry would be refused.
		return nil, errors.New("credentials: no providers for the accounts of ACCOUNTS_FILE to name")
	}
	if cfg.Keys != "" {
		keys, err := ParseKeys(cfg.Keys)
		if err != nil {
			return nil, fmt.Errorf("CREDENTIALS_KEY: %w", err)
		}
		m.keys = keys
	}
	if err := m.Reload(context.Background()); err != nil {
		return nil, err
	}
	return m, nil
}

// Reload reads the file again and puts its accounts in force, all at once:
// sends in flight keep the token they have. A file with any problem is
// refused whole and the accounts in force stay.
func (m *Manager) Reload(ctx context.Context) error {
	m.reloading.Lock()
	defer m.reloading.Unlock()
	var fromFile []Account
	fingerprint := ""
	if m.cfg.File != "" {
		data, err := os.ReadFile(m.cfg.File)
		if err != nil {
			return fmt.Errorf("ACCOUNTS_FILE: %w", err)
		}
		if fingerprint = string(hashOf(data)); fingerprint == m.fingerprint && m.set.Load() != nil {
			return nil
		}
		if fromFile, err = ParseFile(data, m.cfg.Providers); err != nil {
			return fmt.Errorf("ACCOUNTS_FILE %s: %w", m.cfg.File, err)
		}
	}
	s, err := newSet(m.cfg.Static, fromFile)
	if err == nil && s.oauth != "" {
		switch {
		case m.cfg.ClientID == "" || m.cfg.ClientSecret == "":
			err = fmt.Errorf("LEADCONNECTOR_CLIENT_ID and LEADCONNECTOR_CLIENT_SECRET: required by the OAuth account %s", s.oauth)
		case m.keys == nil:
			err = fmt.Errorf("CREDENTIALS_KEY: required by the OAuth account %s, to seal its tokens in Redis", s.oauth)
		case m.rdb == nil:
			err = fmt.Errorf("OAuth account %s: no Redis to keep its tokens in", s.oauth)
		}
	}
	if err != nil {
		return fmt.Errorf("ACCOUNTS_FILE %s: %w", m.cfg.File, err)
	}
	s.keepGone(m.set.Load(), time.Now())
	old := m.set.Swap(s)
	m.fingerprint = fingerprint
	m.forget(s)
	if old != nil {
		m.log.Info("accounts reloaded", zap.Int("accounts", len(s.accounts)))
	}
	if err := m.writeIndex(ctx, s); err != nil {
		m.log.Warn("could not list the accounts in Redis for `enqueue accounts`", zap.Error(err))
	}
	return nil
}

// forget drops what this process knows of accounts gone from s, or whose
// credential s replaces: their sends use the new one from now on.
func (m *Manager) forget(s *set) {
	m.live.Range(func(k, v any) bool {
		l := v.(*live)
		if seed, ok := s.seeds[k.(id)]; !ok || seed != l.seed {
			m.live.Delete(k)
			if l.state.Load() == stateReauth {
				m.log.Info("account credential replaced: its sends resume", zap.String("provider", k.(id).provider), zap.String("account", k.(id).name))
			}
		}
		return true
	})
}

// Known reports whether a provider's account is configured.
func (m *Manager) Known(provider, name string) bool { return m.set.Load().get(provider, name) != nil }

// Window returns the window of a provider's account, for its sends that
// name none: the window of its ACCOUNTS_FILE entry; zero when it has none
// or is not configured.
func (m *Manager) Window(provider, name string) tasks.Window {
	if a := m.set.Load().get(provider, name); a != nil {
		return a.Window
	}
	return tasks.Window{}
}

// Names returns a provider's account names.
func (m *Manager) Names(provider string) []string {
	var names []string
	for k := range m.set.Load().accounts {
		if k.provider == provider {
			names = append(names, k.name)
		}
	}
	return names
}

// Token returns the token to send with for a provider's account. A static
// token is returned as configured; an OAuth one is renewed first when it
// is near its expiry or was refused. Its errors: send.ErrNoAccount
// wrapped for an account not configured, once goneGrace has passed since
// a reload dropped it, and a *send.WaitError before; send.ErrCannotSend
// wrapped for an agency account, which mints its locations' tokens and
// sends nothing (HighLevel takes Sub-Account tokens only); a
// *send.WaitError holding a *ReauthError while the account needs a new
// credential, or an *AppRefusedError while the OAuth server refuses the
// app; others when Redis or the OAuth server fail, to be tried again
// shortly.
func (m *Manager) Token(ctx context.Context, provider, name string) (string, error) {
	if a := m.set.Load().get(provider, name); a != nil && a.Kind == KindAgency {
		return "", fmt.Errorf("%s account %q is an agency (company_id): it mints its locations' tokens and does not send; name an account of one of its locations: %w", provider, name, send.ErrCannotSend)
	}
	return m.token(ctx, provider, name)
}

// token is Token for any account, agencies too.
func (m *Manager) token(ctx context.Context, provider, name string) (string, error) {
	s := m.set.Load()
	a := s.get(provider, name)
	switch {
	case a == nil:
		if since := time.Since(s.gone[id{provider, name}]); since < goneGrace {
			return "", &send.WaitError{Wait: goneGrace - since, Err: fmt.Errorf("%s account %q gone from ACCOUNTS_FILE a moment ago: its sends wait in case the file is being rewritten", provider, name)}
		}
		m.noteMissing(ctx, provider, name)
		return "", fmt.Errorf("%s account %q: %w", provider, name, send.ErrNoAccount)
	case !a.renewable():
		return a.Token, nil
	}
	l := m.liveOf(s, a)
	t := l.cur.Load()
	if t.usable(time.Now()) {
		return t.access, nil
	}
	token, err := m.renew(ctx, a, l, t.gen())
	if wait := (*send.WaitError)(nil); errors.As(err, &wait) {
		m.noteWaiting(ctx, a, wait.Wait)
	}
	return token, err
}

// Refused tells that the provider answered 401 to token. It reports
// whether the account's credential is renewed, so that Token gives a new
// token to try at once; a static token is not.
func (m *Manager) Refused(_ context.Context, provider, name, token string) bool {
	s := m.set.Load()
	a := s.get(provider, name)
	if a == nil || !a.renewable() {
		return false
	}
	l := m.liveOf(s, a)
	if t := l.cur.Load(); t != nil && t.access == token && !t.refused {
		refused := *t
		refused.refused = true
		l.cur.CompareAndSwap(t, &refused)
	}
	return true
}

// liveOf returns what this process knows of a renewable account now.
func (m *Manager) liveOf(s *set, a *Account) *live {
	k := id{a.Provider, a.Name}
	seed := s.seeds[k]
	for {
		v, loaded := m.live.LoadOrStore(k, &live{seed: seed})
		l := v.(*live)
		if !loaded || l.seed == seed {
			return l
		}
		// A reload is replacing it: forget runs after the swap.
		m.live.CompareAndDelete(k, l)
	}
}

// ReauthError is why an account's sends wait: its credential cannot be
// renewed, and the file must give a new one.
type ReauthError struct {
	Provider, Account string
	// Reason is what the OAuth server answered (such as "400 Invalid
	// grant: refresh token is invalid"), or why the chain cannot go on.
	Reason string
}

func (e *ReauthError) Error() string {
	return fmt.Sprintf("%s account %q needs a new credential in ACCOUNTS_FILE (%s): its sends wait", e.Provider, e.Account, e.Reason)
}

// AppRefusedError is why the sends of OAuth accounts wait while the OAuth
// server refuses the app itself: LEADCONNECTOR_CLIENT_ID or
// LEADCONNECTOR_CLIENT_SECRET is wrong. Every account keeps its chain.
type AppRefusedError struct {
	// Reason is what the OAuth server answered, never a secret.
	Reason string
}

func (e *AppRefusedError) Error() string {
	return "the OAuth server refuses the app (" + e.Reason + "): check LEADCONNECTOR_CLIENT_ID and LEADCONNECTOR_CLIENT_SECRET; sends wait, every account keeps its chain"
}
