package producer_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAnAppDoesNotLinkTheWorker guards what an app that enqueues pulls in:
// the producer reads the same configuration as the worker, but must not
// bring the worker, its monitor or its metrics into the app's binary.
func TestAnAppDoesNotLinkTheWorker(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/punctualhq/punctual/producer").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch pkg {
		case "github.com/punctualhq/punctual/worker", "github.com/punctualhq/punctual/metrics",
			"github.com/hibiken/asynqmon", "go.opentelemetry.io/otel/sdk/trace":
			t.Errorf("the producer depends on %s", pkg)
		}
	}
}
