// Command app is an app's first use of punctual, in a module of its own:
// it schedules a Mateo message for a minute from now and prints its task
// id and state. A worker on the same Redis sends it (go run ./cmd/worker
// --dev from the repository's root, then REDIS_URL as its banner says).
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go run .
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers/mateo"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	// REDIS_URL (default redis://127.0.0.1:6379/0), RATE_LIMITS and
	// SEND_WINDOWS, read as the workers read them.
	p, err := producer.FromEnv()
	if err != nil {
		return err
	}
	defer p.Close()

	req := &mateo.SendMessageRequest{
		From: "3c90c3cc-0d44-4b50-8888-8dd25736052a",
		To:   []mateo.Recipient{{Handle: mateo.Handle("ana@example.com"), FullName: "Ana Silva"}},
		Text: "Your order ships tomorrow",
	}
	res, err := p.Send(ctx, req, producer.Key("order-1234-shipping"), producer.At(time.Now().Add(time.Minute)))
	if err != nil {
		return err
	}
	fmt.Println(res.ID, res.State)
	return nil
}
