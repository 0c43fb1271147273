package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
)

// TestDevExamplesKeepTheirKeys follows the banner's next step: the Mateo
// example sent again is the dev run's send, a duplicate, not a second
// message.
func TestDevExamplesKeepTheirKeys(t *testing.T) {
	t.Parallel()
	p, err := producer.Open("redis://" + redistest.Start(t).Addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	file := filepath.Join("..", "..", "examples", "mateo-send-message.json")
	ctx := context.Background()
	if err := scheduleExamples(ctx, p, zaptest.NewLogger(t), []string{file}, time.Now()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.EnqueueJSON(ctx, data)
	if err != nil || !res.Duplicate {
		t.Fatalf("the example sent again: %+v, %v; want a duplicate of the dev run's", res, err)
	}
	// A second dev run on the same Redis schedules nothing twice.
	if err := scheduleExamples(ctx, p, zaptest.NewLogger(t), []string{file}, time.Now()); err != nil {
		t.Fatal(err)
	}
	list, err := p.List(ctx, producer.ListOptions{})
	if err != nil || len(list) != 1 {
		t.Errorf("%d tasks, %v; want the one example", len(list), err)
	}
}
