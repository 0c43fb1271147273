package asynqadapter

// Several asynq servers take tasks for one worker.
//
// asynq v0.26: a server takes tasks in one loop, processor.exec
// (processor.go:170), one Redis round trip at a time, and at a few
// thousand sends a second that round trip, not the sends, bounds the
// rate: the loop waits on Redis nine tenths of its time.
//
// We change: a worker with send slots to fill runs more servers, each a
// loop of its own: one per takerSlots send slots, up to maxTakers. The
// extra ones only help take tasks under load. The first checks for due
// tasks and holds them (a burst due in the same second must not wait for
// another loop to wake up); each extra one takes takerSlots at once and,
// when every queue is empty, looks again after takerIdleCheck. asynq
// sleeps between half and one and a half of that (processor.go:184), and a
// loop stops only once its sleep ends: a third of a second delays a stop
// by half a second at most.
//
// We recognise nothing: the servers are asynq's public API. Takers counts
// the extra servers made.

import (
	"time"

	"github.com/hibiken/asynq"
)

const (
	takerSlots     = 16
	maxTakers      = 4
	takerIdleCheck = time.Second / 3
)

// takers returns how many asynq servers take tasks for sendSlots send slots.
func takers(sendSlots int) int { return min(max(sendSlots/takerSlots, 1), maxTakers) }

// Servers returns the asynq servers that take tasks for sendSlots send
// slots on conn: the first configured with first, the others as first
// but taking takerSlots tasks at once, leaving due tasks to the first and
// saying only warnings.
func Servers(conn asynq.RedisConnOpt, first asynq.Config, sendSlots int) []*asynq.Server {
	if o, ok := conn.(ConnOpt); ok && o.empty == nil {
		o.empty = newEmptyQueues()
		conn = o
	}
	srvs := make([]*asynq.Server, takers(sendSlots))
	for i := range srvs {
		c := first
		if i > 0 { // asynq's default for due tasks: the first server checks often
			c.Concurrency, c.DelayedTaskCheckInterval, c.TaskCheckInterval = takerSlots, 0, takerIdleCheck
			c.LogLevel = asynq.WarnLevel // the first one says it starts and stops
			patches[Takers].hit()
		}
		srvs[i] = asynq.NewServer(conn, c)
	}
	return srvs
}
