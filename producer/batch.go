package producer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/tasks"
)

// MaxLine is the longest batch line accepted, newline excluded.
const MaxLine = 1 << 20

// BatchOptions configure Batch.
type BatchOptions struct {
	// Concurrency is how many lines are enqueued at once. Default 16.
	Concurrency int
	// DryRun checks every line and enqueues nothing. A line whose send
	// is already in Redis, or is an earlier line's, counts as duplicate;
	// when Redis does not answer, lines are checked without that and
	// BatchSummary.DuplicatesUnchecked says so.
	DryRun bool
	// OnReject is told of each rejected line, one call at a time, in line
	// order.
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
	// DuplicatesUnchecked is true after a dry run that could not reach
	// Redis: lines already enqueued count as valid, not duplicate.
	DuplicatesUnchecked bool `json:"duplicates_unchecked,omitempty"`
}

// dryRunPing bounds the look at Redis a dry run makes before it starts.
const dryRunPing = 3 * time.Second

// duplicates tells, in a dry run, which lines' sends exist already: in
// Redis, or as an earlier line's.
type duplicates struct {
	p         *Producer
	unchecked bool // Redis did not answer: only lines are compared
	seen      sync.Map
}

// newDuplicates pings Redis, for a dry run.
func (p *Producer) newDuplicates(ctx context.Context) *duplicates {
	ctx, cancel := context.WithTimeout(ctx, dryRunPing)
	defer cancel()
	return &duplicates{p: p, unchecked: p.calendars.Ping(ctx).Err() != nil}
}

// is tells whether the send id exists already.
func (d *duplicates) is(ctx context.Context, id string) (bool, error) {
	if _, loaded := d.seen.LoadOrStore(id, true); loaded {
		return true, nil
	}
	if d.unchecked {
		return false, nil
	}
	_, err := d.p.find(ctx, id)
	var made *madeError
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case errors.As(err, &made):
		return true, nil
	}
	return err == nil, err
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

// built is a line's task, checked and ready to enqueue.
type built struct {
	n    int
	task *asynq.Task
	undo func()
	send *tasks.Send
}

// Lines go from stage to stage in chunks of up to chunkLines lines and
// chunkBytes bytes (or one longer line): a hand-over per line would cost
// more than checking it, and the lines due now of a chunk book their slots
// together, an account's in one script call, so that larger chunks make
// fewer calls (256 lines of short messages fill the 64 KiB).
const (
	chunkLines = 256
	chunkBytes = 64 << 10
)

// Batch enqueues the envelopes of r, one JSON object per line, streaming:
// memory does not grow with the input. A line without a key gets one
// derived from what it says (Envelope.ContentKey), so a batch enqueued
// again, whole or after an interruption, re-spelled or not, enqueues
// nothing twice. Bad lines are told to OnReject and do not stop the
// others; the error is for a run that could not go on (Redis, reading r,
// ctx).
//
// Lines are checked on every core (and their rate-limit slots booked)
// while Concurrency of them are being enqueued, so that checking never
// waits on Redis, nor Redis on checking.
func (p *Producer) Batch(ctx context.Context, r io.Reader, o BatchOptions) (BatchSummary, error) {
	if o.Concurrency < 1 {
		o.Concurrency = 16
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		lines                       = make(chan []line, 2*runtime.GOMAXPROCS(0))
		ready                       = make(chan []built, o.Concurrency)
		enqueued, duplicate, reject atomic.Int64
		checkers, enqueuers         sync.WaitGroup
		order                       = inOrder{next: 1, held: map[int]error{}, emit: o.OnReject}
		dups                        *duplicates
	)
	if o.DryRun {
		dups = p.newDuplicates(ctx)
	}
	// done marks line n done, rejected when err is not nil.
	done := func(n int, err error) {
		if err != nil {
			reject.Add(1)
		}
		order.finish(n, err)
		if o.OnLine != nil {
			o.OnLine()
		}
	}
	// check checks the lines of a chunk, books the slots of those due now
	// together, and returns the tasks to enqueue.
	check := func(chunk []line) []built {
		var ready []prepared
		for _, l := range chunk {
			send, err := p.batchSend(ctx, l.data, o.DryRun)
			var (
				invalid   *invalidError
				held      *heldError
				rejection error
			)
			switch {
			case errors.As(err, &invalid):
				rejection = invalid.err
			case errors.As(err, &held):
				duplicate.Add(1)
			case err != nil:
				cancel(fmt.Errorf("line %d: %w", l.n, err))
			case o.DryRun:
				switch dup, err := dups.is(ctx, send.ID); {
				case err != nil:
					cancel(fmt.Errorf("line %d: %w", l.n, err))
				case dup:
					duplicate.Add(1)
				default:
					enqueued.Add(1)
				}
			default:
				ready = append(ready, prepared{l.n, send})
				continue
			}
			done(l.n, rejection)
		}
		todo, err := p.tasksOf(ctx, ready)
		if err != nil {
			cancel(err)
			return nil
		}
		return todo
	}
	// enqueueAll enqueues tasks one after the other.
	enqueueAll := func(tasks []built) {
		for _, b := range tasks {
			if ctx.Err() != nil {
				return // interrupted: the lines are left for the next run
			}
			dup, err := p.enqueue(ctx, b.task, b.undo)
			switch {
			case err != nil || dup:
				if lerr := p.leaveUnlessMember(context.WithoutCancel(ctx), b.send); err == nil {
					err = lerr
				}
			default:
				err = p.opened(ctx, b.send.ID, b.send.Opening)
			}
			if err == nil && !dup && b.send.Payload.Group != "" {
				_, err = p.settle(ctx, b.send.ID, b.task)
			}
			switch {
			case err != nil:
				cancel(fmt.Errorf("line %d: %w", b.n, err))
			case dup:
				duplicate.Add(1)
			default:
				enqueued.Add(1)
			}
			done(b.n, nil)
		}
	}

	nCheckers := runtime.GOMAXPROCS(0)
	if p.limiter != nil && !o.DryRun {
		// Booking a line's rate-limit slot waits on Redis: book as many
		// at once as are enqueued.
		nCheckers = max(nCheckers, o.Concurrency)
	}
	for range nCheckers {
		checkers.Go(func() {
			for chunk := range lines {
				if tasks := check(chunk); len(tasks) > 0 {
					ready <- tasks
				}
			}
		})
	}
	for range o.Concurrency {
		enqueuers.Go(func() {
			for tasks := range ready {
				enqueueAll(tasks)
			}
		})
	}
	n, readErr := readLines(ctx, r, lines, done)
	close(lines)
	checkers.Wait()
	close(ready)
	enqueuers.Wait()
	order.flush()
	sum := BatchSummary{Lines: n, Enqueued: int(enqueued.Load()), Duplicate: int(duplicate.Load()), Rejected: int(reject.Load()),
		DuplicatesUnchecked: dups != nil && dups.unchecked}
	if err := context.Cause(ctx); err != nil {
		return sum, err
	}
	return sum, readErr
}

// readLines sends the non-blank lines of r to out, in chunks, until r
// ends or ctx is done, and returns how many lines it read. A chunk goes as
// soon as r has nothing more at once. A line longer than MaxLine is
// rejected without being held in memory whole; it and blank lines are told
// to done.
func readLines(ctx context.Context, r io.Reader, out chan<- []line, done func(int, error)) (int, error) {
	br := bufio.NewReaderSize(r, MaxLine+1)
	n, size := 0, 0
	var chunk []line
	for {
		data, err := br.ReadSlice('\n')
		if len(data) > 0 || err == bufio.ErrBufferFull {
			n++
		}
		if err == bufio.ErrBufferFull {
			done(n, fmt.Errorf("longer than %d bytes", MaxLine))
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
		} else if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 {
			chunk = append(chunk, line{n: n, data: bytes.Clone(trimmed)})
			size += len(trimmed)
		} else if len(data) > 0 {
			done(n, nil)
		}
		if len(chunk) > 0 && (len(chunk) == chunkLines || size >= chunkBytes || br.Buffered() == 0 || err != nil) {
			select {
			case out <- chunk:
				chunk, size = nil, 0
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

// inOrder hands rejected lines on in line order, one at a time, although
// lines are done on many goroutines and out of order: a rejection waits
// until every line before it is done.
type inOrder struct {
	mu   sync.Mutex
	next int           // the first line not done
	held map[int]error // lines done after next: why each was rejected, or nil
	emit func(line int, err error)
}

// finish marks line n done, rejected when err is not nil.
func (o *inOrder) finish(n int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n != o.next {
		o.held[n] = err
		return
	}
	for {
		if err != nil && o.emit != nil {
			o.emit(o.next, err)
		}
		o.next++
		var ok bool
		if err, ok = o.held[o.next]; !ok {
			return
		}
		delete(o.held, o.next)
	}
}

// flush hands on the rejections still held, behind lines a stopped run
// left undone.
func (o *inOrder) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range slices.Sorted(maps.Keys(o.held)) {
		if err := o.held[n]; err != nil && o.emit != nil {
			o.emit(n, err)
		}
	}
	clear(o.held)
}

// invalidError is a line rejected for what it says, not for the run.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }

// batchSend validates a line and prepares its send (a dry run checks
// that its task can be made); a line rejected for what it says gives an
// *invalidError.
func (p *Producer) batchSend(ctx context.Context, data []byte, dryRun bool) (*tasks.Send, error) {
	e, err := tasks.ParseEnvelope(data, p.opts.Providers)
	if err != nil {
		return nil, &invalidError{err}
	}
	claim, err := withContentKey(e)
	if err != nil {
		return nil, &invalidError{err}
	}
	send, err := p.prepare(ctx, e)
	var fe *jsonvalue.FieldError
	switch {
	case errors.As(err, &fe):
		return nil, &invalidError{err}
	case err != nil:
		return nil, err
	case dryRun:
		_, err = send.Task(p.opts, send.Payload.Due)
	case claim:
		if err = p.claimKey(ctx, send); err == nil {
			err = p.join(ctx, send)
		}
	default:
		err = p.join(ctx, send)
	}
	return send, err
}

// prepared is a line's send, ready for its slot and task.
type prepared struct {
	n    int
	send *tasks.Send
}

// tasksOf books the slots of the sends due now or held for their window,
// those of one account in one round trip, and returns the tasks of all.
func (p *Producer) tasksOf(ctx context.Context, sends []prepared) ([]built, error) {
	now := time.Now()
	slots := map[string]ratelimit.Slot{}
	if p.limiter != nil {
		byAccount := map[[2]string][]ratelimit.Send{}
		for _, s := range sends {
			if s.send.Books(now) {
				k := [2]string{tasks.Provider(s.send.Type), s.send.Payload.Account}
				byAccount[k] = append(byAccount[k], ratelimit.Send{TaskID: s.send.ID, At: s.send.BookAt(now)})
			}
		}
		for k, batch := range byAccount {
			booked, err := p.limiter.ReserveMany(ctx, k[0], k[1], batch)
			if err != nil {
				return nil, err
			}
			for i, b := range booked {
				if _, ok := slots[batch[i].TaskID]; !ok { // a key twice in a chunk: its first booking
					slots[batch[i].TaskID] = b
				}
			}
		}
	}
	o := p.opts
	o.Now = func() time.Time { return now }
	todo := make([]built, 0, len(sends))
	for _, s := range sends {
		at := s.send.Payload.Due
		if slot, ok := slots[s.send.ID]; ok {
			at = slot.At
		}
		task, err := s.send.Task(o, at)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", s.n, err)
		}
		undo := func() {}
		if slots[s.send.ID].Booked {
			provider, account, id := tasks.Provider(s.send.Type), s.send.Payload.Account, s.send.ID
			undo = func() { _ = p.limiter.Release(ctx, provider, account, id) }
		}
		todo = append(todo, built{s.n, task, undo, s.send})
	}
	return todo, nil
}
