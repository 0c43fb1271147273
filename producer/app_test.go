package producer_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
)

// TestAnAppInAModuleOfItsOwnBuildsAndSends builds examples/app, a module
// that imports the producer by the module's path as any app would, with
// its go.mod and go.sum as they are in the repository, and runs it.
func TestAnAppInAModuleOfItsOwnBuildsAndSends(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the app: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "app")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "examples", "app")
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in examples/app: %v\n%s", err, out)
	}

	addr := redistest.Start(t).Addr
	run := exec.Command(bin)
	run.Env = append(os.Environ(), "REDIS_URL=redis://"+addr+"/0")
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the app failed: %v\n%s", err, out)
	}
	id, state, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok || state != "scheduled" {
		t.Fatalf("the app printed %q, want its task id and scheduled", out)
	}
	p, err := producer.Open("redis://" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	st, err := p.Status(context.Background(), id)
	if err != nil || st.Type != "mateo:send_message" || st.State != "scheduled" {
		t.Fatalf("status of the app's task %s: %+v, %v", id, st, err)
	}
}

func TestOpenNamesABadURLWithoutItsPassword(t *testing.T) {
	t.Parallel()
	_, err := producer.Open("http://ana:s3cret@redis.internal:6379/0")
	if err == nil || !strings.Contains(err.Error(), `producer: Redis URL: scheme "http"`) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v, want one naming the scheme and not the password", err)
	}
}
