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
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/window"
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

	tomorrow := time.Now().Add(24 * time.Hour).Format(time.RFC3339)
	envelope := []byte(`{"type":"mateo:send_message","account":"acme","key":"order-1234-reminder",
		"payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","to":[{"handle":"ana@example.com"}],
		"text":"Your order ships tomorrow","send_after":"` + tomorrow + `"}}`)
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

func ExampleProducer_Send() {
	conn, stop := redisForExample()
	defer stop()
	p := producer.New(conn)
	defer p.Close()

	req := &mateo.SendMessageRequest{
		From: "3c90c3cc-0d44-4b50-8888-8dd25736052a",
		To:   []mateo.Recipient{{Handle: mateo.Handle("ana@example.com"), FullName: "Ana Silva"}},
		Text: "Your parcel is on its way",
	}
	due := time.Now().Add(24 * time.Hour).Truncate(time.Millisecond)
	res, err := p.Send(context.Background(), req, producer.Account("acme"), producer.Key("parcel-77"), producer.At(due))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.State, res.Queue, res.ProcessAt.Equal(due))

	// null is sent as null: this update unassigns the conversation.
	res, err = p.Send(context.Background(), &mateo.ConversationUpdate{ID: "9b2f6c3e-1d4a-4e8b-9c7d-2a5f8e1b3c6d", AssigneeID: mateo.Null[string]()})
	fmt.Println(res.State, err)

	// The same validation as for JSON input:
	_, err = p.Send(context.Background(), &mateo.SendMessageRequest{From: "42"})
	fmt.Println(err)
	// Output:
	// scheduled mateo true
	// pending <nil>
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
	due := time.Now().Add(time.Hour).Format(time.RFC3339)
	res, _ := p.EnqueueJSON(ctx, []byte(`{"type":"mateo:update_conversation","process_at":"`+due+`",
		"payload":{"id":"9b2f6c3e-1d4a-4e8b-9c7d-2a5f8e1b3c6d","status":"closed"}}`))
	fmt.Println(p.Cancel(ctx, res.ID))
	s, _ := p.Status(ctx, res.ID)
	fmt.Println(s.State)
	fmt.Println(errors.Is(p.Cancel(ctx, res.ID), producer.ErrNotFound))
	// Output:
	// <nil>
	// cancelled
	// true
}

func ExampleWindow() {
	conn, stop := redisForExample()
	defer stop()
	p := producer.New(conn)
	defer p.Close()

	// Due at 02:00 in New York, the day after tomorrow; TCPA allows 08:00
	// to 21:00 in the recipient's zone, taken from the number.
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
		fmt.Println(err)
		return
	}
	s, err := p.Status(context.Background(), res.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("requested", s.Due.In(ny).Format("15:04"), "window gave", s.WindowAt.In(ny).Format("15:04"), "in", s.Window)

	// A window whose zone is the recipient's needs a phone number.
	req.To = []mateo.Recipient{{Handle: mateo.Handle("ana@example.com")}}
	_, err = p.Send(context.Background(), req, producer.Window(window.Spec{TZ: "auto", From: "08:00", To: "21:00"}))
	fmt.Println(err)
	// Output:
	// requested 02:00 window gave 08:00 in auto 08:00-21:00
	// window.tz: tz "auto" needs the recipient's phone number in E.164 form ("+12125550123")
}

func ExampleProducer_CancelGroup() {
	conn, stop := redisForExample()
	defer stop()
	p := producer.New(conn)
	defer p.Close()

	ctx := context.Background()
	for i := range 3 {
		_, _ = p.Send(ctx, &mateo.SendMessageRequest{From: "3c90c3cc-0d44-4b50-8888-8dd25736052a", Text: fmt.Sprintf("Reminder %d", i+1)},
			producer.At(time.Now().Add(time.Duration(i+1)*time.Hour)), producer.Group("appointment:77"))
	}
	res, err := p.CancelGroup(ctx, "appointment:77")
	fmt.Printf("%+v %v\n", res, err)
	cancelled, _ := p.List(ctx, "cancelled", "", 10)
	fmt.Println(len(cancelled), cancelled[0].State, cancelled[0].Group)
	// Output:
	// {Cancelled:3 Started:0 Gone:0} <nil>
	// 3 cancelled appointment:77
}
