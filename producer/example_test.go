package producer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/mateo"
)

// redisForExample starts a fresh Redis for one example.
func redisForExample() (asynq.RedisClientOpt, func()) {
	dir, err := os.MkdirTemp("", "producer-example")
	if err != nil {
		panic(err)
	}
	s, err := redistest.StartServer(dir)
	if err != nil {
		panic(err)
	}
	return asynq.RedisClientOpt{Addr: s.Addr}, func() { s.Stop(); _ = os.RemoveAll(dir) }
}

func ExampleProducer_EnqueueJSON() {
	conn, stop := redisForExample()
	defer stop()
	p := producer.New(conn)
	defer p.Close()

	envelope := []byte(`{"type":"mateo:send_message","account":"acme","key":"order-1234-reminder",
		"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],
		"text":"Your order ships tomorrow","send_after":"2030-01-01T09:00:00+01:00"}}`)
	for range 2 {
		res, err := p.EnqueueJSON(context.Background(), envelope)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(res.ID, res.State, "duplicate:", res.Duplicate)
	}
	// Output:
	// 35dbd327-0178-55b6-98f0-fb2159f2b641 scheduled duplicate: false
	// 35dbd327-0178-55b6-98f0-fb2159f2b641 scheduled duplicate: true
}

func ExampleProducer_SendMateoMessage() {
	conn, stop := redisForExample()
	defer stop()
	p := producer.New(conn)
	defer p.Close()

	req := &mateo.SendMessageRequest{
		From: "3c90c3cc-0d44-4b50-8888-8dd25736052a",
		To:   providers.Some([]mateo.Recipient{{FullName: providers.Some("Ana Silva"), ContactID: providers.Some("7d3f2a10-5b6c-4d7e-8f90-a1b2c3d4e5f6")}}),
		Text: providers.Some("Your parcel is on its way"),
	}
	due := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	res, err := p.SendMateoMessage(context.Background(), req, producer.Account("acme"), producer.Key("parcel-77"), producer.At(due))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.State, res.Queue, res.ProcessAt.UTC().Format(time.RFC3339))

	// The same validation as for JSON input:
	_, err = p.SendMateoMessage(context.Background(), &mateo.SendMessageRequest{From: "42"})
	fmt.Println(err)
	// Output:
	// scheduled mateo 2030-01-01T09:00:00Z
	// payload.from: not a UUID: "42"
}

func ExampleProducer_Batch() {
	conn, stop := redisForExample()
	defer stop()
	p := producer.New(conn)
	defer p.Close()

	file := strings.NewReader(`{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c1","message":"Hi"}}
{"type":"leadconnector:send_message","payload":{"type":"Fax","contactId":"c2"}}
{"type":"mateo:send_message","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi"}}
`)
	sum, err := p.Batch(context.Background(), file, producer.BatchOptions{
		OnReject: func(line int, err error) { fmt.Println(&producer.RejectedError{Line: line, Err: err}) },
	})
	fmt.Printf("%+v %v\n", sum, err)
	// Output:
	// line 2: payload.type: must be one of SMS, RCS, Email, WhatsApp, IG, FB, Custom, Live_Chat, TIKTOK: "Fax"
	// {Lines:3 Enqueued:2 Duplicate:0 Rejected:1} <nil>
}

func ExampleProducer_Cancel() {
	conn, stop := redisForExample()
	defer stop()
	p := producer.New(conn)
	defer p.Close()

	ctx := context.Background()
	res, _ := p.EnqueueJSON(ctx, []byte(`{"type":"mateo:update_conversation","process_at":"2030-01-01T00:00:00Z",
		"payload":{"id":"9b2f6c3e-1d4a-4e8b-9c7d-2a5f8e1b3c6d","status":"closed"}}`))
	fmt.Println(p.Cancel(ctx, res.ID))
	_, err := p.Status(ctx, res.ID)
	fmt.Println(errors.Is(err, producer.ErrNotFound))
	// Output:
	// <nil>
	// true
}
