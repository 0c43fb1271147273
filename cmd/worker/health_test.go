package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

// healthServer serves /healthz with status and body, on loopback.
func healthServer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/healthz" {
			http.Error(w, "not the health check: "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// port is the port of a server's 127.0.0.1:port address.
func port(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	_, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckHealth(t *testing.T) {
	t.Parallel()
	ok := healthServer(t, http.StatusOK, "ok\n")
	down := healthServer(t, http.StatusServiceUnavailable, "redis: connection refused\nsecond line\n")
	closed := healthServer(t, http.StatusOK, "ok\n")
	closed.Close()
	for _, tc := range []struct {
		name, httpAddr string
		wantErr        []string // substrings of the error; none: healthy
	}{
		{name: "ok on every interface", httpAddr: ":" + port(t, ok)},
		{name: "ok on its own host", httpAddr: ok.Listener.Addr().String()},
		{name: "not 200", httpAddr: ":" + port(t, down), wantErr: []string{"503 Service Unavailable: redis: connection refused", "/healthz"}},
		{name: "nothing listening", httpAddr: closed.Listener.Addr().String(), wantErr: []string{"connection refused"}},
		{name: "bad HTTP_ADDR", httpAddr: "8080", wantErr: []string{"HTTP_ADDR:", "missing port"}},
		{name: "port 0", httpAddr: "127.0.0.1:0", wantErr: []string{"HTTP_ADDR:", "no fixed port"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkHealth(context.Background(), map[string]string{"HTTP_ADDR": tc.httpAddr})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("HTTP_ADDR=%s: %v, want healthy", tc.httpAddr, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("HTTP_ADDR=%s: healthy, want an error", tc.httpAddr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
		})
	}
}

func TestCheckHealthNamesABadConfigurationOnOneLine(t *testing.T) {
	t.Parallel()
	err := checkHealth(context.Background(), map[string]string{"LOG_LEVEL": "loud", "WORKER_CONCURRENCY": "0"})
	if err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") || !strings.Contains(err.Error(), "WORKER_CONCURRENCY") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q, want both variables named on one line", err)
	}
}

func TestHealthTarget(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		":8080":          "127.0.0.1:8080",
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"[::]:8080":      "[::1]:8080",
		"10.1.2.3:9090":  "10.1.2.3:9090",
		"localhost:8080": "localhost:8080",
	} {
		if got, err := healthTarget(addr); err != nil || got != want {
			t.Errorf("healthTarget(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}

// TestHealthSubcommandExitStatus runs the built binary as a container
// healthcheck does: exit 0 and "ok" on 200, exit 1 and a one-line reason
// otherwise.
func TestHealthSubcommandExitStatus(t *testing.T) {
	t.Parallel()
	bin := buildWorker(t)
	run := func(srv *httptest.Server) (stdout, stderr string, code int) {
		cmd := exec.Command(bin, "health")
		// A clean environment: only what the container would set.
		cmd.Env = []string{"HTTP_ADDR=:" + port(t, srv), "HOME=" + t.TempDir()}
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			code = exit.ExitCode()
		default:
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}

	if out, errOut, code := run(healthServer(t, http.StatusOK, "ok\n")); code != 0 || out != "ok\n" || errOut != "" {
		t.Errorf("healthy: exit %d, stdout %q, stderr %q; want 0, ok", code, out, errOut)
	}
	out, errOut, code := run(healthServer(t, http.StatusInternalServerError, "broken\n"))
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 ||
		!strings.HasPrefix(errOut, "worker: health: GET http://127.0.0.1:") || !strings.Contains(errOut, "500 Internal Server Error: broken") {
		t.Errorf("unhealthy: exit %d, stdout %q, stderr %q; want 1 and one line naming the status", code, out, errOut)
	}
}
