package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/punctualhq/punctual/config"
)

// healthTimeout bounds the whole check: a container healthcheck must
// answer well within its own timeout, and a worker that cannot answer
// /healthz in this long is not healthy.
const healthTimeout = 2 * time.Second

// health is `worker health`: the image has no curl, so the binary checks
// the worker running beside it, over HTTP_ADDR as the worker reads it.
// A nil error means /healthz answered 200; otherwise the error is the
// one-line reason, and main exits 1.
func health() error {
	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	if err := checkHealth(ctx, environment()); err != nil {
		return fmt.Errorf("health: %w", err)
	}
	fmt.Println("ok")
	return nil
}

// checkHealth GETs /healthz of the worker configured by environ.
func checkHealth(ctx context.Context, environ map[string]string) error {
	cfg, err := config.LoadFrom(environ)
	if err != nil {
		// One line: the configuration's errors are joined with newlines.
		return fmt.Errorf("configuration: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	target, err := healthTarget(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	url := "http://" + target + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{
		// A redirect is not a healthy answer: report it as it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error names the method and the URL, which holds no secret.
		return fmt.Errorf("%w (HTTP_ADDR %s)", err, cfg.HTTPAddr)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		reason, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		if reason != "" {
			reason = ": " + reason
		}
		return fmt.Errorf("GET %s: %s%s", url, resp.Status, reason)
	}
	return nil
}

// healthTarget is the host:port to reach a worker listening on addr: the
// loopback address when addr listens on every interface (":8080",
// "0.0.0.0:8080", "[::]:8080"), else addr's own host.
func healthTarget(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port == "" || port == "0" {
		return "", errors.New("no fixed port to check: " + addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}
