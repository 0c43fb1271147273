package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
	"github.com/punctualhq/punctual/worker"
)

// BenchmarkDrain measures a worker sending b.N due-now Mateo messages to
// the sandbox at concurrency 64, limits off, and reports the Redis
// commands per send, everything included (asynq's and the worker's). For
// profiles of the worker's own cost: -cpuprofile, with SANDBOX_URL naming
// a sandbox in its own process (go run ./cmd/sandbox --quiet). The
// benchmark table (make bench) measures the worker binary against plain
// asynq instead.
func BenchmarkDrain(b *testing.B) {
	ctx := context.Background()
	conn := redistest.Start(b)
	url := sandboxURL(b)
	cfg, err := config.LoadFrom(map[string]string{
		"REDIS_URL": "redis://" + conn.Addr + "/0", "MATEO_BASE_URL": url + "/api/v1", "MATEO_TOKEN": "t",
		"LEADCONNECTOR_BASE_URL": url, "WORKER_CONCURRENCY": "64", "RATE_LIMITS": "off", "HTTP_ADDR": "127.0.0.1:0",
	})
	if err != nil {
		b.Fatal(err)
	}
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	p := producer.NewFromClient(rdb)
	for i := range b.N {
		body := `{"type":"mateo:send_message","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi ` + strconv.Itoa(i) + `"}}`
		if _, err := p.EnqueueJSON(ctx, []byte(body)); err != nil {
			b.Fatal(err)
		}
	}
	wc, err := worker.ConfigFrom(cfg)
	if err != nil {
		b.Fatal(err)
	}
	w, err := worker.New(wc, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	ins := asynq.NewInspectorFromRedisClient(rdb)
	before := commands(ctx, rdb)
	b.ResetTimer()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if info, err := ins.GetQueueInfo("mateo"); err == nil && info.Processed-info.Failed == b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("not every send completed")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(commands(ctx, rdb)-before)/float64(b.N), "redis-cmds/send")
	stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// sandboxURL is SANDBOX_URL, a sandbox in its own process, or one in this
// process when it is not set.
func sandboxURL(b *testing.B) string {
	if url := os.Getenv("SANDBOX_URL"); url != "" {
		return url
	}
	srv := httptest.NewServer(sandbox.New(sandbox.Config{}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// commands returns how many commands Redis has run.
func commands(ctx context.Context, rdb redis.UniversalClient) int64 {
	var total int64
	for _, line := range strings.Split(rdb.Info(ctx, "commandstats").Val(), "\n") {
		if _, rest, ok := strings.Cut(line, "calls="); ok {
			n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
			total += n
		}
	}
	return total
}

// BenchmarkDrainReference is BenchmarkDrain's work done by plain asynq:
// concurrency 64, a handler that posts each payload to the sandbox.
func BenchmarkDrainReference(b *testing.B) {
	conn := redistest.Start(b)
	url := sandboxURL(b)
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	c := asynq.NewClientFromRedisClient(rdb)
	for i := range b.N {
		body := `{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Hi ` + strconv.Itoa(i) + `","id":"` + fmt.Sprintf("3c90c3cc-0d44-4b50-8888-%012d", i) + `"}`
		if _, err := c.Enqueue(asynq.NewTask("send", []byte(body))); err != nil {
			b.Fatal(err)
		}
	}
	client := &http.Client{Transport: func() http.RoundTripper {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		return t
	}()}
	srv := asynq.NewServer(conn, asynq.Config{Concurrency: 64, LogLevel: asynq.ErrorLevel})
	ins := asynq.NewInspectorFromRedisClient(rdb)
	b.ResetTimer()
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v1/send_message", bytes.NewReader(t.Payload()))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	})); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if info, err := ins.GetQueueInfo("default"); err == nil && info.Size == 0 && info.Active == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("not every send completed")
		}
	}
	b.StopTimer()
	srv.Shutdown()
}
