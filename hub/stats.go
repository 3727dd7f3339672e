package hub

import "sync/atomic"

// Stats are the hub's running counts, for /metrics.
type Stats struct {
	Sessions   int    // bound sessions now
	StanzasIn  uint64 // stanzas read from clients since start
	StanzasOut uint64 // stanzas queued for clients since start
}

// counters are bumped on the hot paths: each on its own cache line, since
// every session's goroutines add to them.
type counters struct {
	in  atomic.Uint64
	_   [56]byte
	out atomic.Uint64
}

// Stats returns the counts so far. It is cheap and safe to call at any time.
func (s *Server) Stats() Stats {
	return Stats{
		Sessions:   s.router.count(),
		StanzasIn:  s.stats.in.Load(),
		StanzasOut: s.stats.out.Load(),
	}
}
