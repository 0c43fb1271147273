package tasks

import "github.com/punctualhq/punctual/internal/asynqadapter"

// asynq archives a task whose retries are used up before it asks
// IsFailure: tasks are given asynqadapter.RetryOffset more retries in
// asynq than MaxRetry, and the handler archives a send itself once its
// failures have used up MaxRetry.

// MaxRetryLimit bounds MAX_RETRY, below asynqadapter.RetryOffset.
const MaxRetryLimit = 1000

// MaxRetry returns the retries a send is allowed from asynq's max retry
// of its task. Tasks enqueued without the offset keep asynq's count.
func MaxRetry(asynqMaxRetry int) int { return asynqadapter.MaxRetry(asynqMaxRetry) }
