package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/sandbox"
)

// The worker and the producer on a Redis Cluster and behind Sentinel, from
// enqueue to the request the provider receives. Three accounts are rate
// limited, each with its calendar under its own hash tag.
const (
	redisLimits = "mateo:acme=4/s,mateo:beta=10/s,leadconnector=20/s"
	acmeRate    = 4
)

var limitedScopes = []string{"leadconnector:default", "mateo:acme", "mateo:beta"}

func TestCluster(t *testing.T) {
	t.Parallel()
	addrs := redistest.StartCluster(t)
	queues := []string{"mateo", "leadconnector", "bulk", "campaigns", "reminders"}
	e, p, limits := setupRedis(t, map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(addrs, ",")}, queues)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The queues, and the calendars, are spread over the nodes: a
	// script or a scan that assumed one node would miss some.
	cluster, ok := e.rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("the config's Redis client is a %T, want a *redis.ClusterClient", e.rdb)
	}
	queuesOn := map[string][]string{}
	for _, q := range queues {
		slot, err := e.inspector.ClusterKeySlot(q)
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := e.inspector.ClusterNodes(q)
		if err != nil || len(nodes) != 1 {
			t.Fatalf("nodes of queue %s: %v %v, want its master", q, nodes, err)
		}
		queuesOn[nodes[0].Addr] = append(queuesOn[nodes[0].Addr], fmt.Sprintf("%s (slot %d)", q, slot))
	}
	t.Logf("queues by node: %v", queuesOn)
	if len(queuesOn) != len(addrs) {
		t.Fatalf("the queues are on %d of the %d nodes: %v", len(queuesOn), len(addrs), queuesOn)
	}
	calendarsOn := map[string][]string{}
	for _, scope := range limitedScopes {
		node, err := cluster.MasterForKey(ctx, "{"+scope+"}") // the calendar's hash tag
		if err != nil {
			t.Fatal(err)
		}
		calendarsOn[node.Options().Addr] = append(calendarsOn[node.Options().Addr], scope)
	}
	t.Logf("rate-limit calendars by node: %v", calendarsOn)
	if len(calendarsOn) < 2 {
		t.Fatalf("the calendars are all on one node: %v", calendarsOn)
	}

	sendEach(t, e, p, limits, queues)
	cancelScheduled(t, e, p, "bulk")
	// The group's sends are in every queue, on every node, and the group
	// in a slot of its own.
	cancelGroupOfMany(t, e, p, queues, 10000)
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	sentinels, master := redistest.StartSentinel(t)
	queues := []string{"mateo", "leadconnector", "bulk"}
	e, p, limits := setupRedis(t, map[string]string{
		"REDIS_SENTINEL_ADDRS":  strings.Join(sentinels, ","),
		"REDIS_SENTINEL_MASTER": master,
	}, queues)
	sendEach(t, e, p, limits, queues)
	cancelScheduled(t, e, p, "leadconnector")
}

// setupRedis runs a worker on the Redis that redisEnv configures, taking
// from queues, with the limits of redisLimits; and returns a producer built
// as an app would from the same configuration, booking rate-limit slots.
func setupRedis(t *testing.T, redisEnv map[string]string, queues []string) (*env, *producer.Producer, ratelimit.Limits) {
	t.Helper()
	weights := make([]string, len(queues))
	for i, q := range queues {
		weights[i] = q + "=1"
	}
	extra := map[string]string{"RATE_LIMITS": redisLimits, "WORKER_QUEUES": strings.Join(weights, ",")}
	maps.Copy(extra, redisEnv)
	e := setup(t, extra)

	environ := maps.Clone(redisEnv)
	environ["RATE_LIMITS"] = redisLimits
	cfg, err := config.LoadFrom(environ)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := cfg.RedisConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	limits, err := config.ParseRateLimits(builtin.Registry(), cfg.RateLimits)
	if err != nil {
		t.Fatal(err)
	}
	p := producer.New(conn, producer.WithRateLimits(limits), producer.WithMaxRetry(3))
	t.Cleanup(func() { _ = p.Close() })
	return e, p, limits
}

// sent is a send and the request the provider must receive for it.
type sent struct {
	envelope                       string
	id, queue                      string
	due                            time.Time
	method, path, query            string
	token, version, body, received string
}

// sendEach enqueues into each queue one send of each type, acme's and every
// other queue's due in 1.5 s, and checks that each reaches the provider
// exactly once, not before its time, as documented, with acme's sends
// spaced by its limit, and completes; and that every limited account's
// calendar is listed.
func sendEach(t *testing.T, e *env, p *producer.Producer, limits ratelimit.Limits, queues []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const from = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
	later := time.Now().Add(1500 * time.Millisecond).Truncate(time.Millisecond)
	atLater := `"process_at":"` + later.Format(time.RFC3339Nano) + `",`
	var want []*sent
	for i, q := range queues {
		var due time.Time
		processAt := ""
		if i%2 == 0 {
			due, processAt = later, atLater
		}
		msgID := fmt.Sprintf("7d3f2a10-5b6c-4d7e-8f90-%012d", i)
		convID := fmt.Sprintf("9b2f6c3e-1d4a-4e8b-9c7d-%012d", i)
		text := "via " + q
		for _, s := range []*sent{
			{
				envelope: `{"type":"mateo:send_message","account":"acme","queue":"` + q + `",` + atLater +
					`"payload":{"from":"` + from + `","id":"` + msgID + `","text":"` + text + `"}}`,
				method: http.MethodPost, path: "/api/v1/send_message", token: acmeToken, due: later,
				body: `{"from":"` + from + `","id":"` + msgID + `","text":"` + text + `"}`,
			},
			{
				envelope: `{"type":"mateo:update_conversation","account":"beta","queue":"` + q + `",` + processAt +
					`"payload":{"id":"` + convID + `","status":"closed"}}`,
				method: http.MethodPatch, path: "/api/v1/conversation", query: "id=eq." + convID, token: betaToken, due: due,
				body: `{"status":"closed"}`,
			},
			{
				envelope: `{"type":"leadconnector:send_message","queue":"` + q + `",` + processAt +
					`"payload":{"type":"SMS","contactId":"contact` + fmt.Sprint(i) + `","message":"` + text + `"}}`,
				method: http.MethodPost, path: "/conversations/messages", token: lcToken, version: "2021-04-15", due: due,
				body: `{"type":"SMS","contactId":"contact` + fmt.Sprint(i) + `","message":"` + text + `"}`,
			},
		} {
			res, err := p.EnqueueJSON(ctx, []byte(s.envelope))
			if err != nil {
				t.Fatalf("enqueue %s: %v", s.envelope, err)
			}
			if res.Queue != q || res.Duplicate {
				t.Fatalf("enqueued %+v, want a new task in queue %s", res, q)
			}
			s.id, s.queue = res.ID, q
			want = append(want, s)
		}
	}

	for _, s := range want {
		st := e.waitState(t, s.id, "completed", 10*time.Second)
		if st.Result == nil || st.Result.Status != http.StatusOK || st.Queue != s.queue {
			t.Errorf("task %s in %s: completed in %s with %+v, want a 200", s.id, s.queue, st.Queue, st.Result)
		}
	}
	reqs := e.sandbox.Requests()
	if len(reqs) != len(want) {
		t.Errorf("%d requests for %d sends", len(reqs), len(want))
	}
	var acme []time.Time
	for _, r := range reqs {
		s := match(t, want, r)
		if s == nil {
			t.Errorf("unexpected request %s %s?%s %s", r.Method, r.Path, r.Query, r.Body)
			continue
		}
		if s.received != "" {
			t.Errorf("send %s in %s received twice: at %s and %s", s.id, s.queue, s.received, r.At.Format(time.RFC3339Nano))
		}
		s.received = r.At.Format(time.RFC3339Nano)
		if got := r.Header.Get("Authorization"); got != "Bearer "+s.token {
			t.Errorf("send %s: Authorization %q, want the account's token", s.id, got)
		}
		if got := r.Header.Get("Version"); got != s.version {
			t.Errorf("send %s: Version %q, want %q", s.id, got, s.version)
		}
		if r.At.Before(s.due) {
			t.Errorf("send %s arrived %s before its time", s.id, s.due.Sub(r.At))
		}
		if r.Status != http.StatusOK {
			t.Errorf("send %s answered %d", s.id, r.Status)
		}
		if s.token == acmeToken {
			acme = append(acme, r.At)
		}
	}
	for _, s := range want {
		if s.received == "" {
			t.Errorf("send %s in %s (%s %s?%s) never reached the provider", s.id, s.queue, s.method, s.path, s.query)
		}
	}
	// acme's sends, all due at once, go one slot apart. The bound leaves
	// room for one request stalled on a loaded machine; unlimited, they
	// would all go within milliseconds.
	slices.SortFunc(acme, time.Time.Compare)
	if n := len(acme); n != len(queues) {
		t.Errorf("%d of acme's sends arrived, want %d", n, len(queues))
	} else {
		span := acme[n-1].Sub(acme[0])
		t.Logf("acme's %d sends, due at once, went over %s", n, span)
		if least := time.Duration(n-1)*time.Second/acmeRate - 100*time.Millisecond; span < least {
			t.Errorf("acme's %d sends, due at once, went within %s: faster than its %d/s", n, span, acmeRate)
		}
	}

	scopes, err := ratelimit.New(e.rdb, limits).Accounts(ctx)
	if err != nil || !slices.Equal(scopes, limitedScopes) {
		t.Errorf("accounts with a calendar: %v %v, want %v", scopes, err, limitedScopes)
	}
}

// match returns the send r is the request of, by method, path, query and
// body; nil when none.
func match(t *testing.T, want []*sent, r sandbox.Request) *sent {
	t.Helper()
	var got any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Errorf("body is not JSON: %v: %s", err, r.Body)
		return nil
	}
	for _, s := range want {
		var body any
		if err := json.Unmarshal([]byte(s.body), &body); err != nil {
			t.Fatal(err)
		}
		if r.Method == s.method && r.Path == s.path && r.Query == s.query && reflect.DeepEqual(got, body) {
			return s
		}
	}
	return nil
}

// cancelScheduled cancels a send of acme in queue that waits for its
// slot, and checks that its booking is freed and that it never reaches
// the provider.
func cancelScheduled(t *testing.T, e *env, p *producer.Producer, queue string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	booked := func(id string) bool {
		t.Helper()
		err := e.rdb.ZScore(ctx, "punctual:rl:{mateo:acme}:bookings", id).Err()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		return err == nil
	}
	// Sends due now are booked when they are enqueued: at 4/s, the last
	// of six waits a second and more for its slot.
	var last *producer.Enqueued
	for i := range 6 {
		res, err := p.EnqueueJSON(ctx, []byte(`{"type":"mateo:send_message","account":"acme","queue":"`+queue+
			`","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"burst `+fmt.Sprint(i)+`"}}`))
		if err != nil {
			t.Fatal(err)
		}
		last = res
	}
	e.waitState(t, last.ID, "scheduled", time.Second)
	if !booked(last.ID) {
		t.Fatalf("the waiting send %s holds no booking", last.ID)
	}
	if err := p.Cancel(ctx, last.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if booked(last.ID) {
		t.Errorf("the cancelled send %s still holds its booking", last.ID)
	}
	time.Sleep(2 * time.Second) // past the cancelled send's slot: it must not come
	for _, r := range e.sandbox.Requests() {
		if strings.Contains(string(r.Body), "burst 5") {
			t.Errorf("the cancelled send reached the provider at %s", r.At.Format(time.RFC3339Nano))
		}
	}
	if s, err := p.Status(ctx, last.ID); err != nil || s.State != "cancelled" || s.Queue != queue {
		t.Errorf("status after the cancellation: %+v, %v; want cancelled from %s", s, err, queue)
	}
}

// TestACLUser runs the same path as an ACL user of a Redis whose default
// user is off: REDIS_URL's credentials are used by the worker and the producer.
func TestACLUser(t *testing.T) {
	t.Parallel()
	redistest.RequireServer(t)
	conn := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: conn.Addr})
	defer admin.Close()
	ctx := context.Background()
	for _, cmd := range [][]any{
		{"ACL", "SETUSER", "punctual", "on", ">s3cret pass", "~*", "&*", "+@all"},
		{"ACL", "SETUSER", "default", "off"},
	} {
		if err := admin.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	queues := []string{"mateo", "leadconnector"}
	e, p, limits := setupRedis(t, map[string]string{"REDIS_URL": "redis://punctual:s3cret%20pass@" + conn.Addr + "/0"}, queues)
	sendEach(t, e, p, limits, queues)
}
