// Package devredis runs an embedded, in-memory Redis (miniredis) for the
// worker's dev mode and for tests on machines without redis-server.
// Nothing it holds is written anywhere.
package devredis

import (
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Server is a running embedded Redis.
type Server struct {
	*miniredis.Miniredis
	stop chan struct{}
}

// Start runs an embedded Redis on addr (host:port; port 0 picks a free one).
func Start(addr string) (*Server, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		return nil, err
	}
	s := &Server{Miniredis: m, stop: make(chan struct{})}
	go s.clock()
	return s, nil
}

// clock lets keys expire: miniredis only moves its TTLs forward when told.
func (s *Server) clock() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case now := <-tick.C:
			s.FastForward(now.Sub(last))
			last = now
		case <-s.stop:
			return
		}
	}
}

// Close stops the server.
func (s *Server) Close() {
	close(s.stop)
	s.Miniredis.Close()
}
