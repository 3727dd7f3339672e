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
	Refused      uint64 // connections refused by the limits per address (too many, too fast, failed logins)
	Conns        int    // connections and sessions open now, all transports
	ConnCap      int    // Limits.MaxConns; 0 = none

	// Delivery under pressure (backlog.go, shaper.go).
	Conflated      uint64 // queued notifications and presence superseded by newer ones before they were written
	ReadsPaused    uint64 // times a session's reads were paused for sending faster than its limits
	CutOffStalled  uint64 // sessions cut off for taking nothing for the stall timeout
	CutOffOverflow uint64 // sessions cut off for having more than MaxPending bytes waiting
	PendingPeak    int    // the most bytes that waited unwritten for one session (counted from 32 KiB)

	NotificationsDropped uint64 // pubsub and PEP notifications dropped because pubsub's delivery queue was full

	// Stream management (sm.go, sm_resume.go).
	Hibernated int    // sessions whose link dropped, waiting for resumption now
	Resumed    uint64 // sessions resumed on a new link since start
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
	refused      atomic.Uint64
	// Rare: only sessions that fall behind or send too fast touch these.
	conflated  atomic.Uint64
	paused     atomic.Uint64
	stalled    atomic.Uint64
	overflowed atomic.Uint64
	peak       atomic.Int64
}

// notePending records n bytes waiting for one session.
func (c *counters) notePending(n int) {
	for {
		p := c.peak.Load()
		if int64(n) <= p || c.peak.CompareAndSwap(p, int64(n)) {
			return
		}
	}
}

// Stats returns the counts so far. It is cheap and safe to call at any time.
func (s *Server) Stats() Stats {
	open, limit := s.limiter.open()
	return Stats{
		Sessions:       s.router.count(),
		StanzasIn:      s.stats.in.Load(),
		StanzasOut:     s.stats.out.Load(),
		AuthFailures:   s.stats.authFailures.Load(),
		AuthRefused:    s.stats.authRefused.Load(),
		AcceptErrors:   s.stats.acceptErrors.Load(),
		OverCap:        s.stats.overCap.Load(),
		Refused:        s.stats.refused.Load(),
		Conns:          open,
		ConnCap:        limit,
		Conflated:      s.stats.conflated.Load(),
		ReadsPaused:    s.stats.paused.Load(),
		CutOffStalled:  s.stats.stalled.Load(),
		CutOffOverflow: s.stats.overflowed.Load(),
		PendingPeak:    int(s.stats.peak.Load()),

		NotificationsDropped: s.pubsub.Stats().NotificationsDropped,
		Hibernated:           s.resumable.hibernated(),
		Resumed:              s.resumable.resumed.Load(),
	}
}
