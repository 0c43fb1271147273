package worker_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/punctualhq/punctual/credentials"
	"github.com/redis/go-redis/v9"
)

// A worker without a send's account leaves it to one that has it (SPEC
// §5: a wait, not an end, for NO_ACCOUNT_GRACE, default 10m). A worker started with only Mateo's
// credentials takes the pending LeadConnector sends first: it must put
// them back without spending an attempt, never archive them, and the
// worker beside it that has LeadConnector's credential sends each once.
//
// NO_ACCOUNT_GRACE is 10m: a worker that lacks the account puts the send
// back for a second at first, a quarter of its wait so far later on, and
// either worker may take it each time it comes back: the other worker
// gets it within the test's 40 s, a dozen chances.
func TestAWorkerWithoutTheAccountLeavesItsSendsToOneThatHasIt(t *testing.T) {
	t.Parallel()
	mateoOnly := setup(t, map[string]string{"LEADCONNECTOR_TOKEN": "", "NO_ACCOUNT_GRACE": "10m"})
	ids := enqueueEach(t, mateoOnly.producer, 3, func(i int) string {
		return fmt.Sprintf(`{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c-%d","message":"Hi"}}`, i)
	})
	// Alone, the worker without the credential takes each send and ends
	// its try: the send waits for another worker, no attempt spent.
	for _, id := range ids {
		s := mateoOnly.waitStateIn(t, id, 5*time.Second, "retry", "archived", "completed")
		if s.State != "retry" || s.Retried != 0 {
			t.Fatalf("send %s is %s after the try of a worker without a LeadConnector credential, %d attempts spent (last error %q); want it waiting, no attempt spent",
				id, s.State, s.Retried, s.LastError)
		}
	}
	if n := len(mateoOnly.sandbox.Requests()); n != 0 {
		t.Fatalf("%d requests from the worker without the credential, want none", n)
	}
	// enqueue accounts shows the account no running worker has, with the
	// sends waiting for it.
	list, err := credentials.List(t.Context(), mateoOnly.rdb)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(s credentials.Status) bool { return s.Provider == "leadconnector" && s.Name == "default" })
	if i < 0 || list[i].State != credentials.StateMissing || list[i].Waiting != int64(len(ids)) {
		t.Errorf("accounts %+v, want leadconnector/default missing with %d sends waiting", list, len(ids))
	}

	// The worker that has it starts beside the first one, which runs on.
	both := setupWith(t, mateoOnly.sandbox, map[string]string{
		"REDIS_URL":        "redis://" + mateoOnly.rdb.(*redis.Client).Options().Addr + "/0",
		"NO_ACCOUNT_GRACE": "10m",
	})
	deadline := time.Now().Add(40 * time.Second)
	for _, id := range ids {
		s := both.waitStateIn(t, id, time.Until(deadline), "completed", "archived")
		if s.State != "completed" || s.Retried != 0 || s.Result == nil || s.Result.Status != http.StatusOK {
			t.Errorf("send %s: %s, %d attempts spent (last error %q, %s); want completed with the provider's 200 and no attempt spent",
				id, s.State, s.Retried, s.LastError, resultOf(s))
		}
	}
	msgs := lcMessages(both.sandbox)
	if len(msgs) != len(ids) {
		t.Errorf("the provider received %d messages, want one per send (%d)", len(msgs), len(ids))
	}
	for _, r := range msgs {
		if got := r.Header.Get("Authorization"); got != "Bearer "+lcToken || r.Status != http.StatusOK {
			t.Errorf("a message with %q answered %d, want the credential of the worker that has it, answered 200", got, r.Status)
		}
	}
}
