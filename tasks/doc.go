// Package tasks is the wire format between producers and workers: the task
// type strings, the envelope producers submit (Envelope, ParseEnvelope,
// ContentKey), the task payload kept in Redis and the result a completed
// task keeps (Payload, Result, compressed when that pays), the send's
// window as the envelope gives it (Window, and Windows, which resolves it
// with SEND_WINDOWS and its account's), and the retry count a task
// carries (MaxRetry). providers.go registers the providers every binary
// knows.
//
// Task type strings are stored in Redis with every task: they are never
// renamed. A renamed type would be registered under both names until the
// old tasks have drained.
//
// What a worker does with a task is package send; what punctual keeps of
// it beside asynq is package state.
package tasks
