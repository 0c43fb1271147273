package send

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
)

type oneToken struct{}

func (oneToken) Token(context.Context, string, string) (string, error) { return "t", nil }
func (oneToken) Refused(context.Context, string, string, string) bool  { return false }
func (oneToken) Rejected(context.Context, string, string, string)      {}

// noMarks is a task state with nothing held, cancelled or in flight.
type noMarks struct{}

func (noMarks) Load(context.Context, string) (state.Marks, error)             { return state.Marks{}, nil }
func (noMarks) SetUntil(context.Context, string, time.Time) error             { return nil }
func (noMarks) SetWindow(context.Context, string, time.Time) error            { return nil }
func (noMarks) TakeCancel(context.Context, string) (bool, error)              { return false, nil }
func (noMarks) Sending(context.Context, string, string) error                 { return nil }
func (noMarks) ClearSending(context.Context, string) error                    { return nil }
func (noMarks) Complete(context.Context, string, []byte, time.Duration) error { return nil }
func (noMarks) NoAccountSince(context.Context, string, time.Duration) (time.Time, error) {
	return time.Now(), nil
}
func (noMarks) Forget(context.Context, string, string) error { return nil }

// BenchmarkProcessTask measures the handler's own cost of one due send,
// from the task to its end, with the provider and Redis out of the way
// (the provider refuses it, so that no asynq result is written): with
// tracing off, a span must cost nothing here.
func BenchmarkProcessTask(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
	}))
	defer srv.Close()
	transports := testTransports(b, srv.URL)
	h := &Handler{
		Providers: builtin.Registry(), Transports: transports, Tokens: oneToken{}, Policy: senders.DefaultPolicy(),
		Logger: zap.NewNop(), Marks: noMarks{}, Retention: time.Hour,
	}
	if err := Register(asynq.NewServeMux(), h); err != nil {
		b.Fatal(err)
	}
	p := tasks.Payload{Account: "default", Due: time.Now().Add(-time.Second), Body: []byte(`{"id":"5d1b4c50-1c1a-4a8e-9f3e-2b8e4f2a8d11","text":"hi"}`)}
	task := taskOf(b, mateo.TypeSendMessage, p)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := h.ProcessTask(ctx, task); !errors.As(err, new(permanentError)) {
			b.Fatalf("got %v, want the 422 refusal", err)
		}
	}
}

func TestErrorTypeNamesTheClassOfAFailure(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want string
	}{
		{&senders.APIError{StatusCode: 503}, "503"},
		{fmt.Errorf("mateo send_message: %w", &senders.APIError{StatusCode: 429}), "429"},
		{fmt.Errorf("x: %w: request written, no answer: %w", senders.ErrOutcomeUnknown, context.DeadlineExceeded), "outcome_unknown"},
		{fmt.Errorf("x: %w", senders.ErrInvalidRequest), "invalid_request"},
		{context.DeadlineExceeded, "timeout"},
		{&net.OpError{Op: "dial", Err: timeoutError{}}, "timeout"},
		{errors.New("connection refused"), "_OTHER"},
	} {
		if got := errorType(c.err); got != c.want {
			t.Errorf("errorType(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string { return "i/o timeout" }
func (timeoutError) Timeout() bool { return true }
