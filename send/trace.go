package send

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/punctualhq/punctual/senders"
)

// The attributes of a send's span: what was sent, when it was due and
// how late its request started (the lateness metric's figure and cause),
// and how it ended.
const (
	attrTaskID    = "punctual.task.id"
	attrProvider  = "punctual.provider"
	attrOperation = "punctual.operation"
	attrAccount   = "punctual.account"
	attrAttempt   = "punctual.attempt"
	attrDue       = "punctual.due"
	attrLateness  = "punctual.lateness_seconds"
	attrLateCause = "punctual.late_cause"
	attrOutcome   = "punctual.outcome"
	attrStatus    = "http.response.status_code"
	attrErrorType = "error.type"
)

// startSpan starts the span of a send's request at start, named for its
// task type. With no Tracer it returns a no-op span and ctx as it is,
// allocating nothing.
func (h *Handler) startSpan(ctx context.Context, s *try, start time.Time) (context.Context, trace.Span) {
	if h.Tracer == nil {
		return ctx, noop.Span{}
	}
	ctx, span := h.Tracer.Start(ctx, s.task.Type(), trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(start))
	if !span.IsRecording() {
		return ctx, span
	}
	span.SetAttributes(
		attribute.String(attrTaskID, s.id),
		attribute.String(attrProvider, s.provider),
		attribute.String(attrOperation, s.op),
		attribute.String(attrAccount, s.p.Account),
		attribute.Int(attrAttempt, s.retried+1),
		attribute.String(attrLateCause, s.cause),
	)
	if !s.p.Due.IsZero() {
		span.SetAttributes(
			attribute.String(attrDue, s.p.Due.Format(time.RFC3339Nano)),
			attribute.Float64(attrLateness, start.Sub(s.p.Due).Seconds()),
		)
	}
	return ctx, span
}

// endSpan records the answer (status 0 is none) and the policy's verdict
// on it, and ends the span.
func endSpan(span trace.Span, status int, outcome senders.Outcome, err error) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String(attrOutcome, outcomes[outcome]))
		if status != 0 {
			span.SetAttributes(attribute.Int(attrStatus, status))
		}
		if err != nil {
			span.SetAttributes(attribute.String(attrErrorType, errorType(err)))
			if outcome != senders.Success && outcome != senders.Duplicate {
				span.SetStatus(codes.Error, err.Error())
			}
		}
	}
	span.End()
}

// errorType names the class of a failed request: the HTTP status of an
// answer, or why there was none.
func errorType(err error) string {
	var apiErr *senders.APIError
	switch {
	case errors.As(err, &apiErr):
		return strconv.Itoa(apiErr.StatusCode)
	case errors.Is(err, senders.ErrOutcomeUnknown):
		return "outcome_unknown"
	case errors.Is(err, senders.ErrInvalidRequest):
		return "invalid_request"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return "timeout"
	}
	return "_OTHER"
}
