package hub

import "sync/atomic"

// Stats are the hub's running counts, for /metrics.
type Stats struct {
	Sessions     int    // bound sessions now
	StanzasIn    uint64 // stanzas read from clients since start
	StanzasOut   uint64 // stanzas queued for clients since start
	AuthFailures uint64 // wrong passwords or proofs, counted against their address
	AuthRefused  uint64 // logins refused unchecked: the address was locked out
	AcceptErrors uint64 // failed accepts on the XMPP listeners (e.g. out of descriptors)
	OverCap      uint64 // connections refused at the connection cap (Limits.MaxConns)
	Conns        int    // connections and sessions open now, all transports
	ConnCap      int    // Limits.MaxConns; 0 = none
}

// counters are bumped on the hot paths: each on its own cache line, since
// every session's goroutines add to them.
type counters struct {
	in  atomic.Uint64
	_   [56]byte
	out atomic.Uint64
	_   [56]byte
	// Rare events: no padding.
	authFailures atomic.Uint64
	authRefused  atomic.Uint64
	acceptErrors atomic.Uint64
	overCap      atomic.Uint64
}

// Stats returns the counts so far. It is cheap and safe to call at any time.
func (s *Server) Stats() Stats {
	open, limit := s.limiter.open()
	return Stats{
		Sessions:     s.router.count(),
		StanzasIn:    s.stats.in.Load(),
		StanzasOut:   s.stats.out.Load(),
		AuthFailures: s.stats.authFailures.Load(),
		AuthRefused:  s.stats.authRefused.Load(),
		AcceptErrors: s.stats.acceptErrors.Load(),
		OverCap:      s.stats.overCap.Load(),
		Conns:        open,
		ConnCap:      limit,
	}
}
