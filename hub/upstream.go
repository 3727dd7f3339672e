package hub

import (
	"bytes"

	"github.com/geohub/geohub/internal/xmlesc"
)

// Component mode (internal/component): GeoHub is an XEP-0114 component of
// another XMPP server, the upstream, which holds the accounts' connections.
// The accounts are still GeoHub's (devices.Store), named by the bare JIDs
// the upstream gives its users, but none has a session here: what the hub
// would deliver to them leaves over the component link, from the
// component's domain, and the upstream routes it (offline storage, carbons
// and archives included). The pubsub service's JID is then the component's
// domain (Config.PubSubHost).

// Upstream is the component link as the hub sees it.
type Upstream interface {
	// Domain is the component's domain: the from of what the hub sends.
	Domain() string
	// Send queues one stanza for the upstream; it reports whether the
	// link took it (false while it is down).
	Send(stanza []byte) bool
}

// upstreamChat is SendChat in component mode: a chat from the component's
// domain to a bare or full JID at the upstream. Live makes no difference:
// the upstream decides what an absent user gets.
func (s *Server) upstreamChat(c Chat) bool {
	b := make([]byte, 0, 160+len(c.Body)+len(c.Payload))
	b = append(b, "<message type='chat'"...)
	b = xmlesc.Attr(b, "from", s.cfg.Upstream.Domain())
	b = xmlesc.Attr(b, "to", c.To)
	if c.ID != "" {
		b = xmlesc.Attr(b, "id", c.ID)
	}
	b = append(b, "><body>"...)
	b = xmlesc.Text(b, c.Body)
	b = append(b, "</body>"...)
	b = append(b, c.Payload...)
	if !c.Delay.IsZero() {
		b = append(b, "<delay xmlns='"+nsDelay+"'"...)
		b = xmlesc.Attr(b, "from", s.cfg.Upstream.Domain())
		b = xmlesc.Attr(b, "stamp", c.Delay.UTC().Format("2006-01-02T15:04:05.000Z"))
		b = append(b, "/>"...)
	}
	return s.cfg.Upstream.Send(append(b, "</message>"...))
}

// upstreamNotify sends a pubsub notification over the link. Only the
// service's own (from the component's domain) can go: the upstream would
// refuse any other from, and accounts' PEP lives on the upstream anyway.
func (s *Server) upstreamNotify(stanza []byte) {
	head := xmlesc.Attr([]byte("<message type='headline'"), "from", s.cfg.Upstream.Domain())
	if bytes.HasPrefix(stanza, head) {
		s.cfg.Upstream.Send(stanza)
	}
}
