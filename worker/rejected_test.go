package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/testwait"

	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/sandbox"
)

func TestARenewedTokenRefusedTooIsNeverArchived(t *testing.T) {
	t.Parallel()
	e, _ := oauthSetup(t, time.Hour, storeFile, sandbox.Config{})
	first := e.lcSends(t, 1, 0)
	e.waitDone(t, first, 10*time.Second)
	// The app lost the scope of sending: every token is refused, a fresh one too.
	e.sandbox.Forbid("loc1")
	second := e.lcSends(t, 1, 0)
	s := e.waitState(t, second[0], "retry", 10*time.Second)
	if s.Retried != 0 {
		t.Errorf("retried %d, want a wait that spends no attempt", s.Retried)
	}
	testwait.For(t, 20*time.Second, "met", func() bool {
		return e.logs.FilterMessage("account needs a new credential in ACCOUNTS_FILE: its sends wait").Len() == 1
	})
	got := ""
	for _, r := range e.sandbox.Requests() {
		got += fmt.Sprintf("%s %d; ", r.Path, r.Status)
	}
	// The send refused, the token renewed once, the send refused again: no more.
	want := "/oauth/token 200; /conversations/messages 200; /conversations/messages 401; /oauth/token 200; /conversations/messages 401; "
	if got != want {
		t.Errorf("requests %s\nwant %s", got, want)
	}
	// The waiting task's error message, and every other value, name no token.
	text, err := redistest.Text(context.Background(), e.rdb)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range text {
		for _, s := range append(e.sandbox.Tokens(), oauthClientSecret) {
			if strings.Contains(v, s) {
				t.Errorf("a secret in plain text in Redis: %.80s", v)
			}
		}
	}
	if !strings.Contains(fmt.Sprint(text), "a renewed token refused too (401)") {
		t.Error("the waiting task's error does not say why it waits")
	}
}
