// Package logging builds the zap logger of the binaries, and the adapter
// that sends asynq's own log lines through it.
package logging

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a logger writing to stderr at level (debug, info, warn,
// error) in format (json or console).
func New(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	if format == "console" {
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		cfg.EncoderConfig.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
	} else {
		cfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.DisableStacktrace = true
	cfg.Sampling = nil
	return cfg.Build()
}

// Repeats is how often Quiet lets the same line through again.
const Repeats = time.Minute

// Quiet returns log writing each message once, then at most once per
// Repeats: asynq and go-redis retry every second or so while Redis is
// down, and would otherwise say so in hundreds of lines a minute.
func Quiet(log *zap.Logger) *zap.Logger {
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, Repeats, 1, 0)
	}))
}

// Dependencies sends the log lines of the libraries underneath through
// log, each message at most once per Repeats, so that every line is in
// the configured format: go-redis's (redis.SetLogger takes the returned
// Redis) and those written with the standard library's log package (asynq
// writes one there when it wraps an error it does not expect). The
// returned function restores the standard logger.
func Dependencies(log *zap.Logger) (Redis, func()) {
	restore := zap.RedirectStdLog(Quiet(log.Named("stdlog")))
	return Redis{L: Quiet(log.Named("redis")).Sugar()}, restore
}

// Asynq adapts a zap logger to asynq.Logger.
type Asynq struct {
	L *zap.SugaredLogger
	// Muted, when set and true, makes warnings and errors debug lines:
	// while Redis is down, asynq's loops each say so in their own words,
	// and the worker says it once, in one line that names REDIS_URL.
	Muted func() bool
}

// Debug logs at debug level.
func (a Asynq) Debug(args ...any) { a.L.Debug(args...) }

// Info logs at info level.
func (a Asynq) Info(args ...any) { a.L.Info(args...) }

// Warn logs at warn level, or debug when muted.
func (a Asynq) Warn(args ...any) {
	if a.Muted != nil && a.Muted() {
		a.L.Debug(args...)
		return
	}
	a.L.Warn(args...)
}

// Error logs at error level, or debug when muted.
func (a Asynq) Error(args ...any) {
	if a.Muted != nil && a.Muted() {
		a.L.Debug(args...)
		return
	}
	a.L.Error(args...)
}

// Fatal logs at fatal level and exits.
func (a Asynq) Fatal(args ...any) { a.L.Fatal(args...) }

// Redis adapts a zap logger to go-redis's logger, whose lines (connection
// pool retries) are debug detail next to the errors callers return.
type Redis struct{ L *zap.SugaredLogger }

// Printf logs at debug level.
func (r Redis) Printf(_ context.Context, format string, v ...any) { r.L.Debugf(format, v...) }
