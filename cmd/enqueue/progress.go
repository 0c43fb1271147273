package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is the batch's progress bar, drawn on a terminal only, and the
// way rejected lines reach the same terminal. It is safe for concurrent
// use: every call to the bar holds mu, and the bar draws only when told
// (the library's own drawing goroutine reads the bar's state outside of
// any lock we could hold).
type progress struct {
	mu  sync.Mutex
	w   io.Writer
	bar *progressbar.ProgressBar // nil off a terminal
}

// newProgress returns the progress of total lines (-1: not counted)
// written to w, drawn when w is a terminal.
func newProgress(w io.Writer, total int, terminal bool) *progress {
	p := &progress{w: w}
	if !terminal {
		return p
	}
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("enqueueing"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("lines"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionFullWidth(),
		progressbar.OptionSetSpinnerChangeInterval(0),
	)
	return p
}

// add counts a line done.
func (p *progress) add() {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Add(1)
}

// println writes a line of its own, moving the bar out of its way.
func (p *progress) println(a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintln(p.w, a...)
}

// finish takes the bar off the terminal.
func (p *progress) finish() {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Finish()
}
