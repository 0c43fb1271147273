package credentials

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/credentials/accountindex"
)

// indexKey lists the accounts in force (package accountindex): what
// `enqueue accounts` shows, and the producer reads, with no credential.
// Each worker writes it when it loads the accounts and every indexEvery,
// and it lasts indexFor.
const (
	indexKey   = accountindex.Key
	indexEvery = 24 * time.Hour
	indexFor   = 7 * 24 * time.Hour
)

// writeIndex lists the accounts of s in Redis.
func (m *Manager) writeIndex(ctx context.Context, s *set) error {
	if m.rdb == nil {
		return nil
	}
	fields := make([]any, 0, 2*len(s.accounts))
	for k, a := range s.accounts {
		chain := ""
		if seed, ok := s.seeds[k]; ok {
			chain = chainOf(seed)
		}
		fields = append(fields, accountindex.Field(k.provider, k.name), accountindex.Value(string(a.Kind), chain))
	}
	_, err := m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, indexKey)
		if len(fields) > 0 {
			p.HSet(ctx, indexKey, fields...)
			p.PExpire(ctx, indexKey, indexFor)
		}
		return nil
	})
	return err
}

// waitingKey holds the sends of an account that wait for its credential:
// their task ids, each scored with when it is tried again (unix ms). A
// send that comes back and goes no longer counts: its time has passed.
func waitingKey(provider, name string) string {
	return "punctual:credentials:{" + provider + ":" + name + "}:waiting"
}

// waitingKept is how long a waiting send is remembered past its time.
const waitingKept = time.Hour

// noteWaiting counts the send of ctx's task (asynq's task id) as waiting
// for the account's credential for wait. It is a figure for `enqueue
// accounts`: a failure to write it is only logged.
func (m *Manager) noteWaiting(ctx context.Context, a *Account, wait time.Duration) {
	id, ok := asynq.GetTaskID(ctx)
	if !ok || m.rdb == nil {
		return
	}
	now := time.Now()
	key := waitingKey(a.Provider, a.Name)
	_, err := m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(now.Add(wait).UnixMilli()), Member: id})
		p.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.Add(-waitingKept).UnixMilli(), 10))
		p.PExpire(ctx, key, max(wait, parkMax)+waitingKept)
		return nil
	})
	if err != nil {
		m.log.Debug("could not count a waiting send", zap.String("provider", a.Provider), zap.String("account", a.Name), zap.Error(err))
	}
}

// Status is an account as `enqueue accounts` shows it: never a secret.
type Status struct {
	Provider string `json:"provider"`
	Name     string `json:"account"`
	Kind     Kind   `json:"kind"`
	// State is ok, refreshing, reauth_needed, missing (sends name it and no
	// worker has loaded it) or app_refused (for every
	// renewable account while a worker's OAuth app is refused).
	State string `json:"state"`
	// Expires is when the access token in Redis expires; zero for a static
	// token or none yet.
	Expires time.Time `json:"expires_at,omitzero"`
	// Reason is why the account needs a new credential.
	Reason string `json:"reason,omitempty"`
	// Waiting counts the sends waiting for the account's credential.
	Waiting int64 `json:"sends_waiting"`
}

// List returns the accounts the workers last loaded, with the state of
// their credential as Redis keeps it, sorted by provider and name.
func List(ctx context.Context, rdb redis.UniversalClient) ([]Status, error) {
	index, err := rdb.HGetAll(ctx, indexKey).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	list := make([]Status, 0, len(index))
	chains := make(map[string]string, len(index))
	for field, value := range index {
		provider, name, kind, chain := accountindex.Parse(field, value)
		chains[field] = chain
		list = append(list, Status{Provider: provider, Name: name, Kind: Kind(kind), State: StateOK})
	}
	gone, err := missing(ctx, rdb, index)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	list = append(list, gone...)
	slices.SortFunc(list, func(a, b Status) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Name, b.Name))
	})
	type read struct {
		fields  *redis.SliceCmd
		lock    *redis.IntCmd
		hold    *redis.StringCmd
		waiting *redis.IntCmd
	}
	reads := make([]read, len(list))
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	var app *redis.StringCmd
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		app = p.Get(ctx, appKey)
		for i, st := range list {
			reads[i].waiting = p.ZCount(ctx, waitingKey(st.Provider, st.Name), now, "+inf")
			if st.Kind == KindToken || st.State == StateMissing {
				continue
			}
			key := keyOf(st.Provider, st.Name, chains[st.Provider+"/"+st.Name])
			reads[i].fields, reads[i].lock, reads[i].hold = p.HMGet(ctx, key, "state", "expires_at", "reason"), p.Exists(ctx, key+":lock"), p.Get(ctx, key+":hold")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis: %w", err)
	}
	for i := range list {
		r := reads[i]
		list[i].Waiting = r.waiting.Val()
		if r.fields == nil {
			continue
		}
		v := r.fields.Val()
		if state, _ := v[0].(string); state != "" {
			list[i].State = state
		}
		if ms, _ := v[1].(string); ms != "" && ms != "0" {
			n, _ := strconv.ParseInt(ms, 10, 64)
			list[i].Expires = time.UnixMilli(n)
		}
		list[i].Reason, _ = v[2].(string)
		if hold := r.hold.Val(); hold != "" {
			list[i].State, list[i].Reason = StateReauth, hold
		}
		if r.lock.Val() > 0 && list[i].State == StateOK {
			list[i].State = StateRefreshing
		}
		if refused := app.Val(); refused != "" && list[i].State != StateReauth && list[i].Kind != KindToken {
			list[i].State, list[i].Reason = StateAppRefused, "the OAuth server refuses the app ("+refused+"): check LEADCONNECTOR_CLIENT_ID and LEADCONNECTOR_CLIENT_SECRET"
		}
	}
	return list, nil
}

var (
	accountsDesc = prometheus.NewDesc("punctual_accounts",
		"Accounts by provider, credential kind (token, oauth, agency, agency_location) and state (ok, refreshing, reauth_needed, app_refused, renewal_refused) in this worker; alert on reauth_needed above 0.",
		[]string{"provider", "kind", "state"}, nil)
	appRefusedDesc = prometheus.NewDesc("punctual_oauth_app_refused",
		"1 while HighLevel's OAuth server refuses this worker's app (LEADCONNECTOR_CLIENT_ID, LEADCONNECTOR_CLIENT_SECRET): renewals wait and every account keeps its chain; alert on it.",
		nil, nil)
)

// Describe and Collect make the Manager a Prometheus collector of the
// punctual_accounts and punctual_oauth_app_refused gauges.
func (m *Manager) Describe(ch chan<- *prometheus.Desc) {
	ch <- accountsDesc
	ch <- appRefusedDesc
}

// Collect counts the accounts in force by state.
func (m *Manager) Collect(ch chan<- prometheus.Metric) {
	type labels struct {
		provider string
		kind     Kind
		state    string
	}
	counts := map[labels]int{}
	for k, a := range m.set.Load().accounts {
		state := StateOK
		if v, ok := m.live.Load(k); ok {
			state = stateNames[v.(*live).state.Load()]
		}
		counts[labels{a.Provider, a.Kind, state}]++
	}
	for l, n := range counts {
		ch <- prometheus.MustNewConstMetric(accountsDesc, prometheus.GaugeValue, float64(n), l.provider, string(l.kind), l.state)
	}
	refused := 0.0
	if m.app.Load() != nil {
		refused = 1
	}
	ch <- prometheus.MustNewConstMetric(appRefusedDesc, prometheus.GaugeValue, refused)
}
