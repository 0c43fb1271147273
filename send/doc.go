// Package send is the worker's handler: it turns a due task into a
// provider request at the time every constraint allows, and maps how that ended onto
// asynq (WaitError, Backoff.RetryDelay, IsFailure).
//
// The life of a send (pipeline.go, top to bottom): the task is read with
// its marks (package state); the gates (gates.go) each move its time
// later (the provider's wait, the window, the recipients' caps, the
// account's rate limit) and are asked again until none moves it; the send
// is held until then and takes a send slot; the final check, right before
// every request, makes sure it is not cancelled, alone or with its group,
// inside its window and not expired; the answer's outcome (outcomes.go)
// is done, retry, wait, unknown or archive. Whatever way a try ends
// without a request, what it booked is freed in one deferred call, but
// for the bookings it goes back to wait for.
//
// Build a Handler with its dependencies, declared here as the interfaces
// it uses (Tokens, Limiter, Caps, MarkStore, GroupCancels, Metrics), and
// Register it.
package send
