package worker_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/sandbox"
)

// TestTokensAppearNowhereInRedis runs sends that succeed, fail for good,
// wait for a rate limit and retry, then reads every key and value in Redis:
// no token is there, nor in any task's last error.
func TestTokensAppearNowhereInRedis(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"RATE_LIMITS": "mateo=20/s"})
	e.sandbox.Script(
		sandbox.Answer{Status: http.StatusUnauthorized, Body: `{"code":"401","message":"bad token"}`},
		sandbox.Answer{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}, Body: `{}`},
		sandbox.Answer{Status: http.StatusServiceUnavailable, Body: `{}`},
	)
	var ids []string
	for _, env := range []string{
		plainMessage,
		`{"type":"mateo:send_message","account":"acme","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi"}}`,
		`{"type":"mateo:update_conversation","account":"beta","payload":{"id":"9b2f6c3e-1d4a-4e8b-9c7d-2a5f8e1b3c6d","status":"open"}}`,
		`{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c1"}}`,
	} {
		ids = append(ids, e.enqueue(t, env))
	}
	e.waitDone(t, ids, 10*time.Second)
	ctx := context.Background()

	var everything strings.Builder
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		everything.WriteString(k + "\n")
		switch e.rdb.Type(ctx, k).Val() {
		case "string":
			everything.WriteString(e.rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range e.rdb.HGetAll(ctx, k).Val() {
				everything.WriteString(f + "=" + v + "\n")
			}
		case "list":
			everything.WriteString(strings.Join(e.rdb.LRange(ctx, k, 0, -1).Val(), "\n"))
		case "set":
			everything.WriteString(strings.Join(e.rdb.SMembers(ctx, k).Val(), "\n"))
		case "zset":
			everything.WriteString(strings.Join(e.rdb.ZRange(ctx, k, 0, -1).Val(), "\n"))
		}
	}
	if len(keys) < 10 || !strings.Contains(everything.String(), "bad token") {
		t.Fatalf("read %d keys, %d bytes, without the archived error: the scan reads too little", len(keys), everything.Len())
	}
	for _, token := range []string{mateoToken, acmeToken, betaToken, lcToken} {
		if strings.Contains(everything.String(), token) {
			t.Errorf("the token %q is in Redis", token)
		}
	}
}
