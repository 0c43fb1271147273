package providers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/workertest"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/senders"
)

// echoConfig is a made-up provider's configuration: its API and the token
// of its account "default", read from the environment by package config
// as Mateo's and LeadConnector's are.
type echoConfig struct {
	BaseURL   string `env:"ECHO_BASE_URL" envDefault:"https://echo.example.com"`
	Token     string `env:"ECHO_TOKEN"`
	TokenFile string `env:"ECHO_TOKEN_FILE,file"`
}

func (c *echoConfig) Validate() error {
	if _, err := senders.CheckBaseURL(c.BaseURL); err != nil {
		return fmt.Errorf("ECHO_BASE_URL: %w", err)
	}
	return nil
}

func (c *echoConfig) Tokens() (token, list, variable string) { return c.Token, "", "ECHO_TOKEN" }

func (c *echoConfig) Transport(opts ...senders.Option) (*senders.Transport, error) {
	return senders.NewTransport("echo", c.BaseURL, 5*time.Second, opts...)
}

// echo is a third provider, declared here alone: POST /say with {"text"}.
func echo() providers.Provider {
	return providers.Provider{
		Name: "echo",
		Operations: []providers.Operation{{
			Type:   "echo:say",
			Schema: jsonvalue.Object{Required: []string{"text"}, Properties: map[string]jsonvalue.Schema{"text": jsonvalue.String{}}},
			Send: func(ctx context.Context, t *senders.Transport, token string, body []byte) (*senders.Response[senders.Undecoded], error) {
				return senders.Call[senders.Undecoded](ctx, t, "say", http.MethodPost, "/say", nil, token, body)
			},
			AnswerIDs: func(answer []byte) map[string]string {
				var a struct{ ID string }
				_ = json.Unmarshal(answer, &a)
				return providers.IDs("id", a.ID)
			},
		}},
		NewConfig: func() providers.Config { return &echoConfig{} },
		Variables: map[string]string{"ECHO_BASE_URL": "Echo's API", "ECHO_TOKEN": "the Echo token of account `default`"},
	}
}

// TestAThirdProviderIsOneLine adds the echo provider to the built-in ones
// in one line and follows a send of it: its variables read from the
// environment by package config (its token from its _FILE form), the
// producer and a worker both built from that configuration, the request
// the provider receives, and the task's result: the id in its answer. The registry built here is
// the only place echo is listed: nothing else in the process holds it.
func TestAThirdProviderIsOneLine(t *testing.T) {
	reg := append(builtin.Registry(), echo())

	type request struct{ method, path, auth, body string }
	got := make(chan request, 4)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- request{r.Method, r.URL.Path, r.Header.Get("Authorization"), string(body)}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"id":"e-1","echoed":true}`)
	}))
	defer api.Close()

	tokenFile := filepath.Join(t.TempDir(), "echo-token")
	if err := os.WriteFile(tokenFile, []byte("echo-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := redistest.Start(t)
	environ := map[string]string{
		"REDIS_URL": "redis://" + conn.Addr + "/0", "HTTP_ADDR": "127.0.0.1:0",
		"ECHO_BASE_URL": api.URL, "ECHO_TOKEN_FILE": tokenFile,
	}

	// Without the provider in the registry its variables mean nothing,
	// and with it, a bad value is named as the built-in providers' are.
	if _, err := config.LoadWith(reg, map[string]string{"ECHO_BASE_URL": "http://echo.example.com"}); err == nil ||
		!strings.Contains(err.Error(), "ECHO_BASE_URL:") || !strings.Contains(err.Error(), "clear text") {
		t.Fatalf("ECHO_BASE_URL in clear text: %v, want an error naming it", err)
	}
	if _, err := config.LoadWith(reg, map[string]string{"ECHO_TOKEN": "a", "ECHO_TOKEN_FILE": tokenFile}); err == nil ||
		!strings.Contains(err.Error(), "ECHO_TOKEN: set it or ECHO_TOKEN_FILE, not both") || strings.Contains(err.Error(), "echo-secret") {
		t.Fatalf("ECHO_TOKEN twice: %v, want both forms named and no token", err)
	}

	cfg, err := config.LoadWith(reg, environ)
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Provider("echo").(*echoConfig); c.Token != "echo-secret" || c.BaseURL != api.URL {
		t.Fatalf("echo's configuration = %+v, want the token of ECHO_TOKEN_FILE and ECHO_BASE_URL", c)
	}
	if !strings.Contains(cfg.WorkerQueues, "echo=2") {
		t.Errorf("WORKER_QUEUES default %q, want echo's queue in it", cfg.WorkerQueues)
	}

	workertest.Run(t, cfg)
	ctx := t.Context()
	p, err := producer.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	if _, err := p.EnqueueJSON(ctx, []byte(`{"type":"echo:say","payload":{}}`)); err == nil || !strings.Contains(err.Error(), "payload.text: required") {
		t.Fatalf("a say without text: %v, want payload.text: required", err)
	}
	// The registry above is the only place echo is listed: a producer of
	// the same process built with the built-in providers knows no echo,
	// and building it changes nothing for the worker and producer above.
	builtinOnly := producer.New(conn)
	defer builtinOnly.Close()
	if _, err := builtinOnly.EnqueueJSON(ctx, []byte(`{"type":"echo:say","payload":{"text":"hello"}}`)); err == nil || !strings.Contains(err.Error(), `unknown type "echo:say"`) {
		t.Fatalf("echo:say to a producer of the built-in providers: %v, want unknown type", err)
	}
	res, err := p.EnqueueJSON(ctx, []byte(`{"type":"echo:say","payload":{"text":"hello"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Queue != "echo" {
		t.Errorf("queue = %q, want the provider's, echo", res.Queue)
	}
	select {
	case r := <-got:
		if r.method != http.MethodPost || r.path != "/say" || r.auth != "Bearer echo-secret" || r.body != `{"text":"hello"}` {
			t.Errorf("request = %s %s, Authorization %q, body %s; want POST /say, the token of ECHO_TOKEN_FILE, the payload", r.method, r.path, r.auth, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("echo got no request")
	}
	r := waitState(t, p, res.ID, "completed").Result
	if r == nil || r.Provider != "echo" || r.Status != http.StatusOK || string(r.Response) != `{"id":"e-1"}` {
		t.Errorf("result = %+v, want echo, 200, the id in its answer", r)
	}
}
