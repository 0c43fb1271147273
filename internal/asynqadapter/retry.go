package asynqadapter

// The retry offset.
//
// asynq v0.26: processor.handleFailedMessage (processor.go:343) archives a
// task whose retries are used up (msg.Retried >= msg.Retry) before it asks
// IsFailure (processor.go:347), so a wait on the last try would archive a
// send that only waited.
//
// We change: tasks are given RetryOffset more retries in asynq than the
// send is allowed (WithRetryOffset); asynq counts only failures
// (IsFailure), and the handler archives a send itself once its failures
// have used up what MaxRetry returns. asynq's own limit is then reached
// only by a task whose tries end in neither an answer nor a wait (a
// worker killed or timed out) ten thousand times.
//
// We recognise it: the max retry asynq hands the handler
// (asynq.GetMaxRetry) is at least RetryOffset.
//
// Not recognised: a task enqueued without the offset (by another client,
// or before it) keeps asynq's count; after 100 such tasks and none with
// the offset, RetryOffsetPatch is judged not applied.

// RetryOffset is added to every task's max retry in asynq.
const RetryOffset = 10000

// WithRetryOffset returns the max retry to give asynq for a send allowed
// maxRetry retries.
func WithRetryOffset(maxRetry int) int { return maxRetry + RetryOffset }

// MaxRetry returns the retries a send is allowed from asynq's max retry
// of its task. Tasks enqueued without the offset keep asynq's count.
func MaxRetry(asynqMaxRetry int) int {
	if asynqMaxRetry >= RetryOffset {
		patches[RetryOffsetPatch].hit()
		return asynqMaxRetry - RetryOffset
	}
	patches[RetryOffsetPatch].missed()
	return asynqMaxRetry
}
