package producer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/window"
)

// The examples below that talk to Redis have no Output: go test compiles
// them and does not run them, as they need the Redis of REDIS_URL (default
// redis://127.0.0.1:6379/0) and a worker to mean anything. The tests of
// this package cover what they show.

// An envelope or request is checked before Redis is needed: this one runs
// without it.
func ExampleProducer_Send_validation() {
	p, err := producer.Open("") // REDIS_URL's default; Open does not connect
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	_, err = p.Send(context.Background(), &mateo.SendMessageRequest{From: "42"})
	fmt.Println(err)

	req := &mateo.SendMessageRequest{From: "3c90c3cc-0d44-4b50-8888-8dd25736052a", Text: "Hi"}
	_, err = p.Send(context.Background(), req,
		producer.Window(window.Spec{TZ: "Europe/Berlin", From: "08:00", To: "20:00"}), producer.NamedWindow("office"))
	fmt.Println(err)
	// Output:
	// payload.from: not a UUID: "42"
	// window: Window and NamedWindow both given: a send has one window, spelled out or named
}

// FromEnv reads REDIS_URL (or the Cluster or Sentinel variables),
// MAX_RETRY, RESULT_RETENTION, RATE_LIMITS and SEND_WINDOWS as the workers
// and the enqueue CLI do.
func ExampleFromEnv() {
	p, err := producer.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	res, err := p.EnqueueJSON(context.Background(), []byte(`{"type":"mateo:send_message","key":"order-1234-reminder",
		"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],"text":"Your order ships tomorrow"}}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.ID, res.State, "duplicate:", res.Duplicate)
}

// The same key, or the same envelope without one, enqueues one send: the
// second time says duplicate.
func ExampleProducer_EnqueueJSON() {
	p, err := producer.Open(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	tomorrow := time.Now().Add(24 * time.Hour).Format(time.RFC3339)
	envelope := []byte(`{"type":"mateo:send_message","account":"acme","key":"order-1234-reminder",
		"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],
		"text":"Your order ships tomorrow","send_after":"` + tomorrow + `"}}`)
	for range 2 {
		res, err := p.EnqueueJSON(context.Background(), envelope)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.ID, res.State, "duplicate:", res.Duplicate)
	}
}

func ExampleProducer_Send() {
	p, err := producer.Open(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	req := &mateo.SendMessageRequest{
		From: "3c90c3cc-0d44-4b50-8888-8dd25736052a",
		To:   []mateo.Recipient{{Handle: mateo.Handle("ana@example.com"), FullName: "Ana Silva"}},
		Text: "Your parcel is on its way",
	}
	due := time.Now().Add(24 * time.Hour)
	res, err := p.Send(context.Background(), req, producer.Account("acme"), producer.Key("parcel-77"), producer.At(due))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.ID, res.State, res.Queue)

	// null is sent as null: this update unassigns the conversation.
	res, err = p.Send(context.Background(), &mateo.ConversationUpdate{ID: "9b2f6c3e-1d4a-4e8b-9c7d-2a5f8e1b3c6d", AssigneeID: mateo.Null[string]()})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.ID, res.State)
}

func ExampleProducer_Batch() {
	p, err := producer.Open(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	file := strings.NewReader(`{"type":"leadconnector:send_message","payload":{"type":"SMS","contactId":"c1","message":"Hi"}}
{"type":"leadconnector:send_message","payload":{"type":"Fax","contactId":"c2"}}
`)
	sum, err := p.Batch(context.Background(), file, producer.BatchOptions{
		OnReject: func(line int, err error) { fmt.Println(&producer.RejectedError{Line: line, Err: err}) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", sum) // {Lines:2 Enqueued:1 Duplicate:0 Rejected:1}, or Duplicate:1 the second time
}

func ExampleProducer_Cancel() {
	p, err := producer.Open(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ctx := context.Background()
	due := time.Now().Add(time.Hour).Format(time.RFC3339)
	res, err := p.EnqueueJSON(ctx, []byte(`{"type":"mateo:update_conversation","process_at":"`+due+`",
		"payload":{"id":"9b2f6c3e-1d4a-4e8b-9c7d-2a5f8e1b3c6d","status":"closed"}}`))
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Cancel(ctx, res.ID); errors.Is(err, producer.ErrTooLate) {
		fmt.Println("too late: the send has started")
	} else if err != nil {
		log.Fatal(err)
	}
	s, err := p.Status(ctx, res.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.State) // cancelled
}

// A window whose zone is the recipient's, taken from the number.
func ExampleWindow() {
	p, err := producer.Open(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	// Due at 02:00 in New York; TCPA allows 08:00 to 21:00 in the
	// recipient's zone.
	ny, _ := time.LoadLocation("America/New_York")
	y, m, d := time.Now().In(ny).AddDate(0, 0, 2).Date()
	req := &mateo.SendMessageRequest{
		From: "3c90c3cc-0d44-4b50-8888-8dd25736052a",
		To:   []mateo.Recipient{{Handle: mateo.Handle("+12125550123")}},
		Text: "Your appointment is at 10:00 tomorrow",
	}
	res, err := p.Send(context.Background(), req, producer.At(time.Date(y, m, d, 2, 0, 0, 0, ny)),
		producer.Window(window.Spec{TZ: "auto", From: "08:00", To: "21:00"}))
	if err != nil {
		log.Fatal(err)
	}
	s, err := p.Status(context.Background(), res.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("requested", s.Due.In(ny).Format("15:04"), "window gave", s.WindowAt.In(ny).Format("15:04"), "in", s.Window)
}

func ExampleProducer_CancelGroup() {
	p, err := producer.Open(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ctx := context.Background()
	for i := range 3 {
		_, err := p.Send(ctx, &mateo.SendMessageRequest{From: "3c90c3cc-0d44-4b50-8888-8dd25736052a", Text: fmt.Sprintf("Reminder %d", i+1)},
			producer.At(time.Now().Add(time.Duration(i+1)*time.Hour)), producer.Group("appointment:77"))
		if err != nil {
			log.Fatal(err)
		}
	}
	res, err := p.CancelGroup(ctx, "appointment:77")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", res) // {Cancelled:3 Started:0 Gone:0}
}

func ExampleProducer_List() {
	p, err := producer.Open(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	archived, err := p.List(context.Background(), producer.ListOptions{State: producer.StateArchived, Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range archived {
		fmt.Println(s.ID, s.Type, s.LastError)
	}
}
