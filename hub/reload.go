package hub

// Limits that a running hub takes anew (geohub serve on SIGHUP): the
// limits per address, and the shapers of sessions that start from now on.
// The others are read where they were set up and need a restart.

// ReloadableLimits are the names of the Limits fields SetLimits applies.
var ReloadableLimits = []string{"MaxConnsPerIP", "ConnRate", "ConnBurst", "MaxAuthFailures", "AuthFailureWindow",
	"StanzaRate", "StanzaBurst", "MessageRate", "MessageBurst", "ByteRate", "ByteBurst"}

// SetLimits applies l's per-address limits at once and its shapers to the
// sessions that start from now on; zero fields are the defaults, as in
// Config.Limits. Other fields of l are ignored.
func (s *Server) SetLimits(l Limits) {
	l.fill()
	cur := *s.shaping.Load()
	cur.MaxConnsPerIP, cur.ConnRate, cur.ConnBurst = l.MaxConnsPerIP, l.ConnRate, l.ConnBurst
	cur.MaxAuthFailures, cur.AuthFailureWindow = l.MaxAuthFailures, l.AuthFailureWindow
	cur.StanzaRate, cur.StanzaBurst = l.StanzaRate, l.StanzaBurst
	cur.MessageRate, cur.MessageBurst = l.MessageRate, l.MessageBurst
	cur.ByteRate, cur.ByteBurst = l.ByteRate, l.ByteBurst
	s.shaping.Store(&cur)
	s.limiter.set(cur)
}

// newSessionShaper is the shaper of a session starting now.
func (s *Server) newSessionShaper() shaper { return newShaper(*s.shaping.Load()) }
