package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer takes writes from several goroutines, as a terminal does.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The batch counts lines from every goroutine that enqueues and prints
// rejected lines while the bar is drawn: run with -race, this fails if any
// of the bar's state is read outside the lock.
func TestProgressIsSafeForConcurrentUse(t *testing.T) {
	cases := []struct {
		name     string
		total    int
		terminal bool
	}{
		{"terminal, lines counted", 1 << 30, true},
		{"terminal, standard input", -1, true},
		{"not a terminal", -1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out syncBuffer
			p := newProgress(&out, c.total, c.terminal)
			// A bar that draws by itself does so every 100 ms: lines are
			// counted for 200 ms and printed for 400 ms (the last ones
			// alone, as when every line of a run is rejected), so calls
			// overlap several of its draws.
			start := time.Now()
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for time.Since(start) < 200*time.Millisecond {
						p.add()
					}
				})
			}
			printed := 0
			wg.Go(func() {
				for ; time.Since(start) < 400*time.Millisecond; printed++ {
					p.println(fmt.Sprintf("line %d: rejected", printed))
				}
			})
			wg.Wait()
			p.finish()

			got := out.String()
			var whole []string
			for _, l := range strings.Split(got, "\n") {
				// What a terminal shows of a line: the text after its last \r.
				if l = l[strings.LastIndex(l, "\r")+1:]; strings.HasPrefix(l, "line ") {
					whole = append(whole, l)
				}
			}
			if printed == 0 || len(whole) != printed {
				t.Fatalf("%d of %d printed lines stand whole on a line of their own", len(whole), printed)
			}
			for i, l := range whole {
				if want := fmt.Sprintf("line %d: rejected", i); l != want {
					t.Fatalf("printed %q, want %q", l, want)
				}
			}
			if drawn := strings.Contains(got, "enqueueing"); drawn != c.terminal {
				t.Errorf("bar drawn: %v, want %v", drawn, c.terminal)
			}
		})
	}
}
