package hub

import "github.com/geohub/geohub/internal/xmlesc"

// Chat is a chat message from the hub's own JID (hubjid.go), such as an
// alert.
type Chat struct {
	To      string // a bare or full JID at this hub
	ID      string // the message's id; empty for none
	Body    string
	Payload []byte // one element after the body, declaring its namespace; may be nil
}

// SendChat delivers c like a message from a client to that address: to the
// resource, else to the account's available resources, else into offline
// storage; nowhere when the account blocks the hub's JID or does not
// exist. It may write the offline store, so it is not for the writer
// goroutine.
func (s *Server) SendChat(c Chat) {
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
	s.sendAsServer(c.To, append(b, "</message>"...), startEnd)
}

// sendAsServer delivers a message from the hub's JID whose start tag ends
// at startEnd.
func (s *Server) sendAsServer(to string, stanza []byte, startEnd int) {
	a, dst, ok := s.jidTarget(to)
	switch {
	case !ok || s.hubBlocked(string(a.local)):
		return
	case dst != nil:
		dst.send(stanza)
		return
	case a.kind != addrFull && a.kind != addrBare:
		return
	}
	// A full JID whose resource is gone gets it as its bare JID would.
	if s.toAvailable(a.local, stanza) || !s.accounts.Exists(string(a.local)) {
		return
	}
	if err := s.storeOffline(string(a.local), stanza, startEnd, false); err != nil {
		s.log.Info("chat not stored for an offline account", "to", to, "err", err)
	}
}

// Drain delivers the pubsub notifications still queued once the writer has
// stopped. Call it after Close, after the committer is closed and after the
// application has delivered what it queued.
func (s *Server) Drain() { s.pubsub.Close() }
