package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/senders"
)

// The reference is plain asynq doing the same work as our worker: the
// bench run as "bench -reference-worker", an asynq.Server whose handler
// makes the same HTTP request to the same stand-in with a plain net/http
// client. It is configured by the worker's own variables: REDIS_URL,
// MATEO_BASE_URL, MATEO_TOKEN, WORKER_CONCURRENCY. It runs until SIGTERM
// or SIGINT.
const referenceFlag = "-reference-worker"

// referenceQueue is the queue the reference takes its tasks from.
const referenceQueue = "default"

// referenceWorker runs the reference worker; it returns the exit status.
func referenceWorker() int {
	if err := runReference(); err != nil {
		fmt.Fprintln(os.Stderr, "bench "+referenceFlag+":", err)
		return 1
	}
	return 0
}

func runReference() error {
	conn, err := asynq.ParseRedisURI(os.Getenv("REDIS_URL"))
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	concurrency, err := strconv.Atoi(os.Getenv("WORKER_CONCURRENCY"))
	if err != nil || concurrency < 1 {
		return fmt.Errorf("WORKER_CONCURRENCY: want a positive number, got %q", os.Getenv("WORKER_CONCURRENCY"))
	}
	h := &referenceHandler{
		url:   os.Getenv("MATEO_BASE_URL") + "/send_message",
		token: os.Getenv("MATEO_TOKEN"),
		// A plain client, its idle connections as many as the concurrency
		// (net/http keeps two a host by default): a worker written on
		// asynq by hand would be tuned that far too.
		client: &http.Client{Timeout: 30 * time.Second, Transport: func() http.RoundTripper {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConnsPerHost = concurrency
			return t
		}()},
	}
	srv := asynq.NewServer(conn, asynq.Config{Concurrency: concurrency, LogLevel: asynq.ErrorLevel})
	if err := srv.Start(h); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	srv.Shutdown()
	return nil
}

// referenceHandler posts each task's payload to Mateo's send_message.
type referenceHandler struct {
	url, token string
	client     *http.Client
}

// ProcessTask sends the payload as the body of POST /send_message with
// the headers our worker sends; any 2xx is done.
func (h *referenceHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(t.Payload()))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "punctual/"+senders.Version)
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST send_message: status %d", resp.StatusCode)
	}
	return nil
}

// startReference starts the reference worker with environ.
func startReference(environ map[string]string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p, _, err := startProc("reference worker", self, []string{referenceFlag}, environ, nil)
	return p, err
}

// startOurs starts our worker binary with environ.
func startOurs(ctx context.Context, e *env, environ map[string]string) (*proc, error) {
	bin, err := goBuild(ctx, e, "./cmd/worker")
	if err != nil {
		return nil, err
	}
	p, _, err := startProc("worker", bin, nil, environ, nil)
	return p, err
}
