package tasks

import (
	"strings"
	"time"
)

// A send that waits rather than fails stays in asynq's retry state, where
// asynq keeps only the words of its error. The worker starts those words
// with the wait's reason and end, as WaitWords puts them, and status reads
// them back with ParseWait: one wording, kept in one place. At the start,
// where a failure's words have the provider's name: a provider's own text,
// at the end of a failure's, cannot pass for a wait.

const (
	waitOpen  = "(waits for "
	waitUntil = " until "
	waitClose = ") "
)

// WaitWords is the start of a waiting send's error: what it waits for (a
// reason of punctual_waits_total) and when it may go.
func WaitWords(reason string, until time.Time) string {
	return waitOpen + reason + waitUntil + until.UTC().Format(time.RFC3339Nano) + waitClose
}

// ParseWait reads the reason and the end that WaitWords put at the start
// of msg; ok is false when msg does not start with a wait.
func ParseWait(msg string) (reason string, until time.Time, ok bool) {
	rest, found := strings.CutPrefix(msg, waitOpen)
	end := strings.Index(rest, waitClose)
	if !found || end < 0 {
		return "", time.Time{}, false
	}
	reason, at, found := strings.Cut(rest[:end], waitUntil)
	if !found || reason == "" || strings.ContainsAny(reason, " ()") {
		return "", time.Time{}, false
	}
	until, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return "", time.Time{}, false
	}
	return reason, until, true
}
