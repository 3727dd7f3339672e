package hub

import (
	"sync"
	"time"
)

// logSample lets an event that an attacker can repeat by the thousand be
// logged at most once per period, with the number of events in between.
type logSample struct {
	period time.Duration

	mu     sync.Mutex
	logged time.Time
	since  int // events since the last logged one
}

// due counts an event at now and reports whether to log it, with the
// events not logged since the last one that was.
func (l *logSample) due(now time.Time) (since int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.logged.IsZero() && now.Sub(l.logged) < l.period {
		l.since++
		return 0, false
	}
	since, l.since, l.logged = l.since, 0, now
	return since, true
}
