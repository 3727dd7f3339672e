package hub

import (
	"bytes"

	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"mellium.im/xmpp/stanza"
)

// Instant messages between people (and from the hub's JID) are archived in
// each local party's archive (XEP-0313, mam_store.go), stamped with the
// archive's stanza-id (XEP-0359), and copied to the parties' other
// carbons-enabled resources (XEP-0280, carbons.go). Everything else
// (notifications, chat states without carbons, headlines) keeps the plain
// path of route.go.

const nsSID = "urn:xmpp:sid:0"

// imFlags says what a message takes part in.
type imFlags uint8

const (
	imArchive imFlags = 1 << iota // archived: chat or normal, with a body, not a no-store hint
	imCarbon                      // carbon-copied (XEP-0280 §6)
)

// imOf classifies the message el (or stanza when el is nil).
func (s *Server) imOf(typ, inner []byte) imFlags {
	switch string(typ) {
	case "", "normal", "chat":
	default:
		return 0 // groupchat, headline and error are neither archived nor copied
	}
	body := bytes.Contains(inner, []byte("<body"))
	hints := bytes.Contains(inner, []byte(nsHints))
	var f imFlags
	if body && s.archive.on() && !(hints && (bytes.Contains(inner, []byte("<no-store")) || bytes.Contains(inner, []byte("<no-permanent-store")))) {
		f |= imArchive
	}
	if (body || string(typ) == "chat") && !bytes.Contains(inner, []byte(nsCarbons)) && !(hints && bytes.Contains(inner, []byte("<no-copy"))) {
		f |= imCarbon
	}
	return f
}

func (s *Server) imOfElement(el *wire.Element) imFlags {
	if el.Empty {
		return 0
	}
	return s.imOf(el.Value(el.Type), el.Raw[el.StartEnd:])
}

// imMessage is a message between a local account and a party, with its
// copies for each side.
type imMessage struct {
	flags    imFlags
	stamped  []byte // as the sender sent it, from stamped, no forged stanza-id
	startEnd int    // where stamped's start tag ends
	in, out  []byte // stamped with the recipient's / the sender's stanza-id

	// The recipient's archive entry, until keepIn writes it.
	inLocal, inWith string
	inID            int64
}

// newIM stamps el from ss and takes out stanza-ids that claim to be this
// hub's (XEP-0359 §5).
func (s *Server) newIM(ss *session, el *wire.Element, flags imFlags) *imMessage {
	m := &imMessage{flags: flags, stamped: wire.AppendStamped(nil, el, ss.fromAttr)}
	m.startEnd = el.StartEnd + len(ss.fromAttr)
	if el.Has(el.FromAttr) {
		m.startEnd -= el.FromAttr.End - el.FromAttr.Start
	}
	m.stamped = s.stripStanzaIDs(m.stamped)
	m.in, m.out = m.stamped, m.stamped
	return m
}

// hubIM is a message from the hub's JID to the account local, such as an
// alert or a chat command's answer.
func (s *Server) hubIM(local string, msg []byte) *imMessage {
	f := s.imOf([]byte(messageType(msg)), msg[bytes.IndexByte(msg, '>')+1:])
	m := &imMessage{flags: f, stamped: msg, in: msg, out: msg}
	s.reserveIn(m, local, s.hub.full)
	return m
}

// reserveIn gives m.in the stanza-id of the recipient local's archive,
// the sender being with; keepIn archives it.
func (s *Server) reserveIn(m *imMessage, local, with string) {
	if m.flags&imArchive == 0 || !s.accounts.Exists(local) {
		return
	}
	m.inLocal, m.inWith, m.inID = local, with, s.archive.nextID()
	m.in = withStanzaID(m.stamped, formatID(m.inID), s.accounts.JID(local))
}

// keepIn archives m in the recipient's archive, once it reached it.
func (s *Server) keepIn(m *imMessage) {
	if m.inLocal != "" {
		s.archive.add(m.inLocal, m.inID, m.inWith, false, m.stamped)
		m.inLocal = ""
	}
}

// archiveIn archives m in the recipient local's archive at once.
func (s *Server) archiveIn(m *imMessage, local, with string) {
	s.reserveIn(m, local, with)
	s.keepIn(m)
}

// archiveOut archives m in the sender's archive, the recipient being to,
// and gives m.out its stanza-id.
func (s *Server) archiveOut(m *imMessage, ss *session, to string) {
	if m.flags&imArchive == 0 || ss.isRemote() {
		return
	}
	id := s.archive.nextID()
	s.archive.add(ss.local, id, to, true, m.stamped)
	m.out = withStanzaID(m.stamped, formatID(id), ss.bare)
}

// sentCarbons copies what ss sent to its account's other resources.
func (s *Server) sentCarbons(m *imMessage, ss *session) {
	if m.flags&imCarbon != 0 {
		s.carbonCopies(ss.local, "sent", m.out, func(o *session) bool { return o == ss })
	}
}

// receivedCarbons copies what the account local received to its resources
// that did not get it.
func (s *Server) receivedCarbons(m *imMessage, local string, got func(*session) bool) {
	if m.flags&imCarbon != 0 {
		s.carbonCopies(local, "received", m.in, got)
	}
}

// deliverIMFull delivers an IM from ss to the full JID of dst, or reports
// false when dst has closed.
// Between two resources of one account, the message is archived once and
// not copied: both ends are the account's own.
func (s *Server) deliverIMFull(ss *session, el *wire.Element, dst *session, flags imFlags) bool {
	m := s.newIM(ss, el, flags)
	s.reserveIn(m, dst.local, ss.full) // its stanza-id
	// Kept only once queued: a session that closes as the message comes
	// (its resumption window ending, say) refuses it, and the caller sends
	// it on as if the session were gone, archived there.
	if !dst.send(m.in) {
		return false
	}
	s.keepIn(m)
	if dst.local == ss.local {
		return true
	}
	s.archiveOut(m, ss, dst.full)
	s.receivedCarbons(m, dst.local, func(o *session) bool { return o == dst })
	s.sentCarbons(m, ss)
	return true
}

// imToBare prepares an IM from ss to the account local's bare JID:
// archived on both sides.
func (s *Server) imToBare(ss *session, el *wire.Element, local string, flags imFlags) *imMessage {
	m := s.newIM(ss, el, flags)
	to := s.accounts.JID(local)
	s.archiveIn(m, local, ss.full)
	if local != ss.local {
		s.archiveOut(m, ss, to)
	}
	return m
}

// imDelivered sends the carbons of an IM to a bare JID once its resources
// that take such messages have it.
func (s *Server) imDelivered(m *imMessage, ss *session, local string) {
	if local == ss.local {
		return
	}
	s.receivedCarbons(m, local, (*session).deliverable)
	s.sentCarbons(m, ss)
}

// withStanzaID appends a stanza-id by the archive of bare to a message.
func withStanzaID(msg []byte, id, bare string) []byte {
	child := []byte("<stanza-id xmlns='" + nsSID + "'")
	child = xmlesc.Attr(child, "id", id)
	child = xmlesc.Attr(child, "by", bare)
	child = append(child, "/>"...)
	return wire.AppendWithChild(make([]byte, 0, len(msg)+len(child)), msg, 0, false, child)
}

// stripStanzaIDs removes the stanza-ids of a client's message that name
// an archive at this hub as their by: only the hub says what its archives
// hold (XEP-0359 §5).
func (s *Server) stripStanzaIDs(msg []byte) []byte {
	if !bytes.Contains(msg, []byte(nsSID)) {
		return msg
	}
	n, err := xmlnode.Parse(msg, stanza.NSClient)
	if err != nil {
		return msg
	}
	out := make([]byte, 0, len(msg))
	at := 0
	for _, c := range n.Children {
		if c.Space != nsSID || c.Local != "stanza-id" || !s.localJID(c.Attr("by")) {
			continue
		}
		start := cap(msg) - cap(c.Raw)
		out = append(out, msg[at:start]...)
		at = start + len(c.Raw)
	}
	return append(out, msg[at:]...)
}

// localJID reports a JID at this hub's domain.
func (s *Server) localJID(j string) bool {
	a, err := s.parseAddr([]byte(j), new([]byte))
	return err == nil && a.kind != addrRemote
}
