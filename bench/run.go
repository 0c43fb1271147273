package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/logging"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/worker"
)

// enqueuers is how many goroutines enqueue at once, on both sides.
const enqueuers = 16

// parallel calls fn(ctx, i) for i from 0 to n-1 on workers goroutines, and
// returns the first error, which stops the others.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// enqueueBare enqueues n tasks of bare asynq with payload(i), from
// enqueuers goroutines.
func enqueueBare(ctx context.Context, conn asynq.RedisConnOpt, n int, payload func(int) []byte, opts ...asynq.Option) error {
	c := asynq.NewClient(conn)
	defer c.Close()
	return parallel(ctx, n, enqueuers, func(ctx context.Context, i int) error {
		_, err := c.EnqueueContext(ctx, asynq.NewTask("bench:send", payload(i)), opts...)
		return err
	})
}

// enqueueOurs enqueues the envelopes line(0) to line(n-1) with
// producer.Batch of a producer with opts, streamed, enqueuers at once;
// each must be enqueued.
func enqueueOurs(ctx context.Context, conn asynq.RedisConnOpt, n int, line func(int) []byte, opts ...producer.Option) error {
	p := producer.New(conn, opts...)
	defer p.Close()
	in := pipeLines(n, line)
	defer in.Close()
	var rejected error
	sum, err := p.Batch(ctx, in, producer.BatchOptions{
		Concurrency: enqueuers,
		OnReject: func(line int, err error) {
			if rejected == nil {
				rejected = &producer.RejectedError{Line: line, Err: err}
			}
		},
	})
	switch {
	case err != nil:
		return err
	case rejected != nil:
		return fmt.Errorf("batch rejected a line: %w", rejected)
	case sum.Enqueued != n:
		return fmt.Errorf("batch enqueued %d of %d: %+v", sum.Enqueued, n, sum)
	}
	return nil
}

// runningWorker is our worker running in this process.
type runningWorker struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// startWorker builds our worker from environ and runs it until stop. It
// logs through log, or as environ says when log is nil.
func startWorker(environ map[string]string, log *zap.Logger) (*runningWorker, error) {
	cfg, err := config.LoadFrom(environ)
	if err != nil {
		return nil, err
	}
	if log == nil {
		if log, err = logging.New(cfg.LogLevel, cfg.LogFormat); err != nil {
			return nil, err
		}
	}
	wc, err := worker.ConfigFrom(cfg)
	if err != nil {
		return nil, err
	}
	w, err := worker.New(wc, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rw := &runningWorker{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rw.done)
		rw.err = w.Run(ctx)
	}()
	return rw, nil
}

// stop stops the worker and waits for it.
func (w *runningWorker) stop() error {
	w.cancel()
	<-w.done
	return w.err
}

// waitSent waits, at most within, until asynq has finished n of queue's
// tasks, failing at once when an attempt failed or when exited (if not
// nil) says so. It returns the Redis commands it spent asking, which the
// rows that count Redis's commands leave out.
func waitSent(ctx context.Context, within time.Duration, r *redisServer, queue string, n int, exited func() error) (int, error) {
	calls := 0
	err := waitFor(ctx, within, fmt.Sprintf("%d sends from %s", n, queue), func() (bool, error) {
		if exited != nil {
			if err := exited(); err != nil {
				return false, err
			}
		}
		done, failed, err := r.finished(ctx, queue)
		calls += finishCalls
		if err == nil && failed > 0 {
			err = fmt.Errorf("%d attempts failed: the sends fail", failed)
		}
		return done >= n, err
	})
	return calls, err
}
