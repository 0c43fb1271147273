package tasks

// asynq archives a task whose retries are used up before it asks
// IsFailure, so a wait on the last try would archive a send that only
// waited. Tasks are therefore given retryOffset more retries than MaxRetry
// in asynq, which counts only failures (send.IsFailure), and the handler
// archives a send itself once its failures have used up MaxRetry.
// asynq's own limit is then reached only by a task whose tries end in
// neither an answer nor a wait (a worker killed or timed out) ten thousand
// times.
const retryOffset = 10000

// MaxRetryLimit bounds MAX_RETRY, below retryOffset.
const MaxRetryLimit = 1000

// MaxRetry returns the retries a send is allowed from asynq's max retry
// of its task. Tasks enqueued without the offset keep asynq's count.
func MaxRetry(asynqMaxRetry int) int {
	if asynqMaxRetry >= retryOffset {
		return asynqMaxRetry - retryOffset
	}
	return asynqMaxRetry
}
