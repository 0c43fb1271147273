package ratelimit

import "time"

// SetClock makes now the process clock of l, as on a host whose clock is off.
func SetClock(l *Limiter, now func() time.Time) { l.now = now }
