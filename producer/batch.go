package producer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"punctual/senders"
	"punctual/tasks"
)

// MaxLine is the longest batch line accepted, newline excluded.
const MaxLine = 1 << 20

// BatchOptions configure Batch.
type BatchOptions struct {
	// Concurrency is how many lines are enqueued at once. Default 16.
	Concurrency int
	// DryRun checks every line and enqueues nothing.
	DryRun bool
	// OnReject is told of each rejected line, one call at a time.
	OnReject func(line int, err error)
	// OnLine is told of each line done, from any goroutine.
	OnLine func()
}

// BatchSummary counts what Batch did with the lines.
type BatchSummary struct {
	Lines int `json:"lines"`
	// Enqueued counts the lines enqueued; in a dry run, those that would be.
	Enqueued  int `json:"enqueued"`
	Duplicate int `json:"duplicate"`
	Rejected  int `json:"rejected"`
}

// RejectedError is a batch line that was not enqueued, and why.
type RejectedError struct {
	Line int
	Err  error
}

func (e *RejectedError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason()) }

// Reason is why the line was rejected, on one line.
func (e *RejectedError) Reason() string { return strings.ReplaceAll(e.Err.Error(), "\n", "; ") }

func (e *RejectedError) Unwrap() error { return e.Err }

type line struct {
	n    int
	data []byte
}

// Batch enqueues the envelopes of r, one JSON object per line, streaming:
// memory does not grow with the input. A line without a key gets one
// derived from its content, so a batch enqueued again, whole or after an
// interruption, enqueues nothing twice. Bad lines are told to OnReject and
// do not stop the others; the error is for a run that could not go on
// (Redis, reading r, ctx).
func (p *Producer) Batch(ctx context.Context, r io.Reader, o BatchOptions) (BatchSummary, error) {
	if o.Concurrency < 1 {
		o.Concurrency = 16
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		lines                       = make(chan line, 2*o.Concurrency)
		enqueued, duplicate, reject atomic.Int64
		rejectMu                    sync.Mutex
		wg                          sync.WaitGroup
	)
	rejected := func(n int, err error) {
		reject.Add(1)
		if o.OnReject != nil {
			rejectMu.Lock()
			o.OnReject(n, err)
			rejectMu.Unlock()
		}
	}
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range lines {
				dup, err := p.batchLine(ctx, l.data, o.DryRun)
				var invalid *invalidError
				switch {
				case errors.As(err, &invalid):
					rejected(l.n, invalid.err)
				case err != nil:
					cancel(fmt.Errorf("line %d: %w", l.n, err))
				case dup:
					duplicate.Add(1)
				default:
					enqueued.Add(1)
				}
				if o.OnLine != nil {
					o.OnLine()
				}
			}
		}()
	}
	n, readErr := readLines(ctx, r, lines, rejected)
	close(lines)
	wg.Wait()
	sum := BatchSummary{Lines: n, Enqueued: int(enqueued.Load()), Duplicate: int(duplicate.Load()), Rejected: int(reject.Load())}
	if err := context.Cause(ctx); err != nil {
		return sum, err
	}
	return sum, readErr
}

// readLines sends the non-blank lines of r to out until r ends or ctx is
// done, and returns how many lines it read. A line longer than MaxLine is
// rejected without being held in memory whole.
func readLines(ctx context.Context, r io.Reader, out chan<- line, rejected func(int, error)) (int, error) {
	br := bufio.NewReaderSize(r, MaxLine+1)
	n := 0
	for {
		data, err := br.ReadSlice('\n')
		if len(data) > 0 || err == bufio.ErrBufferFull {
			n++
		}
		if err == bufio.ErrBufferFull {
			rejected(n, fmt.Errorf("longer than %d bytes", MaxLine))
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
		} else if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 {
			select {
			case out <- line{n: n, data: bytes.Clone(trimmed)}:
			case <-ctx.Done():
				return n, nil
			}
		}
		switch {
		case err == io.EOF:
			return n, nil
		case err != nil && err != bufio.ErrBufferFull:
			return n, fmt.Errorf("reading line %d: %w", n+1, err)
		}
	}
}

// invalidError is a line rejected for what it says, not for the run.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }

// batchLine validates and enqueues one line; dup is true when its task
// already existed.
func (p *Producer) batchLine(ctx context.Context, data []byte, dryRun bool) (dup bool, err error) {
	e, err := tasks.ParseEnvelope(data)
	if err != nil {
		return false, &invalidError{err}
	}
	if e.Key == "" {
		e.Key = contentKey(data)
	}
	if dryRun {
		_, err := tasks.NewTask(e, p.opts)
		if err != nil {
			return false, &invalidError{err}
		}
		return false, nil
	}
	task, undo, err := p.build(ctx, e)
	var fe *senders.FieldError
	if errors.As(err, &fe) {
		return false, &invalidError{err}
	}
	if err != nil {
		return false, err
	}
	return p.enqueue(ctx, task, undo)
}

// contentKey derives a key from a line's content: the same line always
// gives the same key, and so the same task id and Mateo message id.
func contentKey(data []byte) string {
	var compact bytes.Buffer
	if json.Compact(&compact, data) != nil {
		compact.Write(data)
	}
	sum := sha256.Sum256(compact.Bytes())
	return "content:" + hex.EncodeToString(sum[:16])
}
