package send

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/senders"
	"github.com/punctualhq/punctual/state"
	"github.com/punctualhq/punctual/tasks"
)

// reply is a request's answer, as the policy judged it.
type reply struct {
	status int
	body   []byte
	// readErr cut the body of a 2xx answer short: the send happened.
	readErr error
	err     error
	outcome senders.Outcome
	// wait is the least time before the next try that the answer asks.
	wait time.Duration
	took time.Duration
}

// outcomes names the outcomes in metrics.
var outcomes = map[senders.Outcome]string{
	senders.Success: "sent", senders.Duplicate: "duplicate", senders.Retry: "retry",
	senders.Wait: "rate_limited", senders.Permanent: "failed", senders.Unknown: "unknown",
}

// request makes the send's request with token and judges its answer.
func (h *Handler) request(ctx context.Context, s *try, token string) reply {
	start := time.Now()
	if !s.requested && !s.p.Due.IsZero() {
		h.Metrics.Late(s.provider, s.cause, start.Sub(s.p.Due))
	}
	s.requested = true
	ctx, span := h.startSpan(ctx, s, start)
	r, err := s.o.Send(ctx, h.Transports[s.provider], token, s.p.Body)
	rep := reply{err: err, took: time.Since(start)}
	rep.outcome, rep.wait = h.Policy.Classify(err, s.o.Duplicate)
	if r != nil {
		rep.status, rep.body, rep.readErr = r.StatusCode, r.Body, r.ReadErr
	}
	var apiErr *senders.APIError
	if errors.As(err, &apiErr) {
		rep.status, rep.body = apiErr.StatusCode, apiErr.Body
	}
	h.Metrics.Answered(s.provider, s.op, rep.status, rep.took)
	endSpan(span, rep.status, rep.outcome, err)
	return rep
}

// answer ends the try with the outcome of its answer.
func (h *Handler) answer(ctx context.Context, s *try, r reply) error {
	s.log = s.log.WithLazy(zap.Duration("latency", r.took))
	if r.status != 0 && r.outcome != senders.Success {
		s.log = s.log.WithLazy(zap.Int("status", r.status))
	}
	switch r.outcome {
	case senders.Success, senders.Duplicate:
		return h.done(ctx, s, r)
	case senders.Unknown:
		if h.AtMostOnce[s.provider] {
			return h.unknown(ctx, s, r.err)
		}
		r.outcome = senders.Retry
	}
	// Not delivered: an at-most-once send may go again.
	h.undelivered(ctx, s)
	switch {
	case r.outcome == senders.Retry && s.retried >= s.maxRetry:
		return h.archive(s, fmt.Errorf("no retries left (%d failed tries): %w", s.retried+1, r.err))
	case r.outcome == senders.Retry, r.outcome == senders.Wait:
		return h.retry(ctx, s, r)
	default:
		return h.archive(s, r.err)
	}
}

// done records the send made: the provider took it, or already had it (a
// duplicate). Its record (state.Completion) replaces asynq's task, which
// asynq deletes on completion: it is the task's result, which the
// worker's Redis client sends with asynq's completion in one round trip,
// or, for an at-most-once send, written at once, so that a try whose
// worker stops before asynq's completion ends done, not unknown.
func (h *Handler) done(ctx context.Context, s *try, r reply) error {
	dup := r.outcome == senders.Duplicate
	h.Metrics.Sent(s.provider, s.op, s.p.Account, outcomes[r.outcome])
	ids := s.answerIDs(r.body)
	rec := s.completion(ctx, tasks.Result{Provider: s.provider, Status: r.status, Duplicate: dup, Response: ids}).Encode()
	recorded := false
	if h.AtMostOnce[s.provider] {
		err := h.Marks.Complete(context.WithoutCancel(ctx), s.id, rec, h.Retention)
		if err != nil {
			s.log.Warn("could not record the send made beside its in-flight mark; it goes with the completion", zap.Error(err))
		}
		recorded = err == nil
	}
	if !recorded {
		if _, err := s.task.ResultWriter().Write(rec); err != nil {
			s.log.Warn("could not store the result", zap.Error(err))
		}
	}
	if r.readErr != nil {
		s.log.Warn("the provider took the send; its answer was cut off", zap.Error(r.readErr))
	}
	if dup {
		s.log.Info("already sent: the provider has this message")
	} else {
		s.log.Info("sent", zap.Int("status", r.status), zap.Any("provider_ids", ids))
	}
	return nil
}

// completion is the record of the send made with result.
func (s *try) completion(ctx context.Context, result tasks.Result) state.Completion {
	shard, _ := asynq.GetQueueName(ctx)
	queue := tasks.QueueOf(shard)
	windowAt := s.marks.WindowAt
	if s.windowAt.After(windowAt) {
		windowAt = s.windowAt
	}
	return state.Completion{Queue: queue, Type: s.task.Type(), Account: s.p.Account, Group: s.p.Group, Due: s.p.Due, ExpiresAt: s.p.ExpiresAt,
		Window: s.p.Window.String(), WindowAt: windowAt, At: time.Now(), Retried: s.retried, MaxRetry: s.maxRetry, Result: result, Claimed: s.p.Claim != ""}
}

// retry puts the send back for another try after the answer's wait: a
// failure spends an attempt, a provider's rate limit (wait) does not and
// holds the whole account back.
func (h *Handler) retry(ctx context.Context, s *try, r reply) error {
	wait := r.outcome == senders.Wait
	h.Metrics.Sent(s.provider, s.op, s.p.Account, outcomes[r.outcome])
	if wait {
		h.block(ctx, s, r.wait)
		h.Metrics.Waited(s.provider, s.p.Account, "rate_limit")
	}
	w := &WaitError{Wait: r.wait, Failure: !wait, Err: r.err}
	if wait {
		w.Reason = "rate_limit"
	}
	if r.wait > 0 {
		if err := h.Marks.SetUntil(ctx, s.id, time.Now().Add(r.wait)); err != nil {
			s.log.Warn("could not keep the wait; the retry rounds it up to the second", zap.Error(err))
		} else {
			w.Held = true
		}
	}
	if wait {
		s.log.Info("rate limited", zap.Duration("wait", r.wait), zap.Error(r.err))
	} else {
		s.log.Warn("send failed; will retry", zap.Duration("wait", r.wait), zap.Error(r.err))
	}
	return w
}

// archive ends the send for good: a permanent refusal, or no retries
// left.
func (h *Handler) archive(s *try, err error) error {
	h.Metrics.Sent(s.provider, s.op, s.p.Account, "failed")
	s.log.Error("send failed; archived", zap.Int("max_retry", s.maxRetry), zap.Error(err))
	return permanentError{err}
}

// unknown ends a send whose request may have reached an at-most-once
// provider with no answer: archived, to be retried by hand once someone
// has looked. The mark is cleared so that a retry by hand sends.
func (h *Handler) unknown(ctx context.Context, s *try, cause error) error {
	if ctx.Err() != nil {
		// asynq gave up on this try (its deadline, a lease lost, shutdown)
		// and puts the task back: the mark stays, so it is parked then.
		return cause
	}
	if err := h.Marks.ClearSending(ctx, s.id); err != nil {
		s.log.Warn("could not clear the sending mark", zap.Error(err))
	}
	s.log.Error("outcome unknown: not sent again", zap.Error(cause))
	h.Metrics.Sent(s.provider, s.op, s.p.Account, "unknown")
	return permanentError{fmt.Errorf("outcome unknown (%s is at most once): %w", s.provider, cause)}
}

// made ends a try of a send whose id has a send made (state.Marks.Done):
// this task's own, whose worker stopped before asynq recorded it, or one
// enqueued under a key taken. It is not sent again, and its record stays
// as it is; a delivered mark (state.Marks.For set) gets its record.
func (h *Handler) made(ctx context.Context, s *try) error {
	s.log.Info("not sent: a send of this id was made", zap.Time("sent_at", s.marks.Done.At), zap.String("queue", s.marks.Done.Queue))
	if s.marks.For == "" {
		return nil
	}
	if _, err := s.task.ResultWriter().Write(s.completion(ctx, s.marks.Done.Result).Encode()); err != nil {
		s.log.Warn("could not store the result", zap.Error(err))
	}
	return nil
}

// rejected ends a try whose renewed token was refused too: the credential
// is at fault, not its token, and the account's sends wait for a new one,
// never archived.
func (h *Handler) rejected(ctx context.Context, s *try, token string, r reply) error {
	h.undelivered(ctx, s)
	s.log.Warn("the renewed token was refused too: the account waits for a new credential")
	h.Tokens.Rejected(ctx, s.provider, s.p.Account, token)
	if _, err := h.token(ctx, s); err != nil {
		return err
	}
	return &WaitError{Wait: time.Second, Reason: "credentials", Err: r.err}
}

// undelivered clears the in-flight mark of an at-most-once send known not
// to have been delivered: an answer said so, or no request was written.
// It is cleared even when asynq has given up on the try: the next one
// must not take the send for one whose outcome is unknown.
func (h *Handler) undelivered(ctx context.Context, s *try) {
	if !h.AtMostOnce[s.provider] {
		return
	}
	if err := h.Marks.ClearSending(context.WithoutCancel(ctx), s.id); err != nil {
		s.log.Warn("could not clear the sending mark", zap.Error(err))
	}
}

// unauthorized reports whether err is a provider's 401.
func unauthorized(err error) bool {
	var apiErr *senders.APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized
}

// block keeps the account from sending for wait: the provider knows better
// than the local calendar.
func (h *Handler) block(ctx context.Context, s *try, wait time.Duration) {
	if h.Limiter == nil || wait <= 0 {
		return
	}
	if err := h.Limiter.Block(ctx, s.provider, s.p.Account, time.Now().Add(wait)); err != nil {
		s.log.Warn("could not hold the account back", zap.Error(err))
	}
}

// answerIDs reads the provider's ids of what was sent from its answer, as
// JSON; nil when it names none.
func (s *try) answerIDs(body []byte) json.RawMessage {
	if s.o.AnswerIDs == nil {
		return nil
	}
	ids := s.o.AnswerIDs(body)
	if len(ids) == 0 {
		return nil
	}
	b, _ := json.Marshal(ids) // strings always encode
	return b
}
