package bench

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"
)

// A script run by EVALSHA is counted and timed by the SLOWLOG, named by
// where its source is, and its commands are in commandstats by name.
func TestScriptsCountedAndNamed(t *testing.T) {
	ctx := context.Background()
	r, err := startRedis(&env{tmp: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.stop()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	names := scriptNames(ctx, root)
	// asynq v0.26's dequeue script, whose SHA the worker knows it by.
	const dequeueSHA = "a8153319360adc71cdc370107f8ab9786f204765"
	if got := names[dequeueSHA]; got != "asynq internal/rdb.dequeueCmd" {
		t.Fatalf("name of asynq's dequeue script: got %q", got)
	}

	from, err := r.usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := startSlowlog(ctx, r); err != nil {
		t.Fatal(err)
	}
	s := redis.NewScript(`redis.call("INCR", KEYS[1]) return redis.call("INCR", KEYS[1])`)
	for range 3 { // the first runs as EVAL after EVALSHA's NOSCRIPT
		if err := s.Run(ctx, r.rdb, []string{"k"}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	calls, usec, sources, err := slowlogScripts(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if calls["evalsha "+s.Hash()] != 3 || calls["eval "+s.Hash()] != 1 || sources[s.Hash()] == "" {
		t.Fatalf("slowlog scripts: calls %v, sources %v", calls, sources)
	}
	if usec["evalsha "+s.Hash()] < 0 {
		t.Fatalf("negative time: %v", usec)
	}
	to, err := r.usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	per := perSend(from.stats, to.stats, 2)
	if per["incr"].calls != 3 || per["evalsha"].calls != 1.5 {
		t.Fatalf("commandstats per send: %v", per)
	}
	if _, ok := per["info"]; ok {
		t.Fatal("INFO, the bench's own, is counted")
	}
	sh := shares(per, nil, drained{scripts: calls, scriptUsec: usec}, drained{}, 2, 2, names, sources)
	if sh[0].What != "incr" || sh[0].OursCalls != 3 {
		t.Fatalf("the share above the reference first: %+v", sh)
	}
}
