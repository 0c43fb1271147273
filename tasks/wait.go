package tasks

import (
	"strings"
	"time"
)

// A send that waits rather than fails stays in asynq's retry state, where
// asynq keeps only the words of its error. The worker ends those words with
// the wait's reason and end, as WaitWords puts them, and status reads them
// back with ParseWait: one wording, kept in one place.

const (
	waitOpen  = " (waits for "
	waitUntil = " until "
)

// WaitWords is the end of a waiting send's error: what it waits for (a
// reason of punctual_waits_total) and when it may go.
func WaitWords(reason string, until time.Time) string {
	return waitOpen + reason + waitUntil + until.UTC().Format(time.RFC3339Nano) + ")"
}

// ParseWait reads the reason and the end that WaitWords put at the end of
// msg; ok is false when msg does not end with a wait.
func ParseWait(msg string) (reason string, until time.Time, ok bool) {
	i := strings.LastIndex(msg, waitOpen)
	if i < 0 || !strings.HasSuffix(msg, ")") {
		return "", time.Time{}, false
	}
	reason, at, found := strings.Cut(msg[i+len(waitOpen):len(msg)-1], waitUntil)
	if !found || reason == "" || strings.ContainsAny(reason, " ()") {
		return "", time.Time{}, false
	}
	until, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return "", time.Time{}, false
	}
	return reason, until, true
}
