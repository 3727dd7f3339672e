package hub

import (
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
)

// Chat is a chat message from the hub's own JID (hubjid.go), such as an
// alert.
type Chat struct {
	To      string // a bare or full JID at this hub
	ID      string // the message's id; empty for none
	Body    string
	Payload []byte // one element after the body, declaring its namespace; may be nil
	// Live, when set, delivers the message only to available resources,
	// never into offline storage: the application sends later itself what
	// did not arrive (alerts, from their records: AvailabilityHandler).
	Live bool
	// Delay, when set, stamps the message as sent then (XEP-0203).
	Delay time.Time
	// Messages that reach the account (a resource or offline storage)
	// are kept in its archive (XEP-0313) and copied to its other
	// carbons-enabled resources (XEP-0280).
}

// SendChat delivers c like a message from a client to that address: to the
// resource, else to the account's available resources, else (unless Live)
// into offline storage; nowhere when the account blocks the hub's JID or
// does not exist. It reports whether a resource got it. It may write the
// offline store, so it is not for the writer goroutine.
func (s *Server) SendChat(c Chat) bool {
	if s.cfg.Upstream != nil {
		return s.upstreamChat(c)
	}
	b := make([]byte, 0, 128+len(c.Body)+len(c.Payload))
	b = append(b, "<message type='chat'"...)
	b = append(b, s.hub.fromAttr...)
	b = xmlesc.Attr(b, "to", c.To)
	if c.ID != "" {
		b = xmlesc.Attr(b, "id", c.ID)
	}
	startEnd := len(b) + 1
	b = append(b, "><body>"...)
	b = xmlesc.Text(b, c.Body)
	b = append(b, "</body>"...)
	b = append(b, c.Payload...)
	if !c.Delay.IsZero() {
		b = append(b, "<delay xmlns='"+nsDelay+"'"...)
		b = xmlesc.Attr(b, "from", s.domain)
		b = xmlesc.Attr(b, "stamp", c.Delay.UTC().Format("2006-01-02T15:04:05.000Z"))
		b = append(b, "/>"...)
	}
	return s.sendAsServer(c.To, append(b, "</message>"...), startEnd, !c.Live)
}

// sendAsServer delivers a message from the hub's JID whose start tag ends
// at startEnd, storing it offline when no resource takes it and store is
// set. It reports whether a resource got it.
func (s *Server) sendAsServer(to string, stanza []byte, startEnd int, store bool) bool {
	a, dst, ok := s.jidTarget(to)
	switch {
	case ok && a.kind == addrRemote && s.fed != nil:
		s.fed.sendRaw(string(a.domain), stanza)
		return true
	case !ok || s.hubBlocked(string(a.local)):
		return false
	case dst != nil:
		m := s.hubIM(dst.local, stanza)
		dst.send(m.in)
		s.keepIn(m)
		s.receivedCarbons(m, dst.local, func(o *session) bool { return o == dst })
		return true
	case a.kind != addrFull && a.kind != addrBare:
		return false
	}
	local := string(a.local)
	m := s.hubIM(local, stanza)
	// A full JID whose resource is gone gets it as its bare JID would.
	if s.toAvailable(a.local, m.in) {
		s.keepIn(m)
		s.receivedCarbons(m, local, (*session).deliverable)
		return true
	}
	if !store || !s.accounts.Exists(local) {
		return false
	}
	if err := s.storeOffline(local, m.in, startEnd, false, false); err != nil {
		s.log.Info("chat not stored for an offline account", "to", to, "err", err)
		return false
	}
	s.keepIn(m)
	s.receivedCarbons(m, local, (*session).deliverable)
	return false
}

// Drain delivers the pubsub notifications still queued once the writer has
// stopped. Call it after Close, after the committer is closed and after the
// application has delivered what it queued.
func (s *Server) Drain() { s.pubsub.Close() }
