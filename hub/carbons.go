package hub

import (
	"bytes"

	"github.com/geohub/geohub/internal/xmlesc"
)

// Message carbons (XEP-0280): a resource that enables them gets a copy of
// the messages its account's other resources send and receive, so that an
// operator's phone and desktop show the same conversations, alerts and
// chat-command answers. Which messages qualify is decided in chatroute.go.

const (
	nsCarbons = "urn:xmpp:carbons:2"
	nsForward = "urn:xmpp:forward:0"
	nsHints   = "urn:xmpp:hints" // XEP-0334
)

// carbonsIQ enables or disables carbons for the sending resource
// (XEP-0280 §4, §5).
func (s *Server) carbonsIQ(ss *session, req *iqRequest) {
	if !req.set {
		ss.send(errorReply(ss, req.el, errBadRequest.withText("carbons are enabled or disabled with an IQ set")))
		return
	}
	ss.carbons.Store(req.payload.Local == "enable")
	ss.send(iqResult(ss, req.el, nil))
}

// carbonCopies sends a carbon of stanza, a message the account local sent
// (dir "sent") or received (dir "received"), to each of its
// carbons-enabled available resources for which got reports false: those
// that did not already get the message itself.
func (s *Server) carbonCopies(local, dir string, stanza []byte, got func(*session) bool) {
	var bare []byte
	for _, dst := range s.router.sessions(local) {
		if !dst.carbons.Load() || !dst.available() || got(dst) {
			continue
		}
		if bare == nil {
			bare = xmlesc.Attr(nil, "from", dst.bare)
		}
		dst.send(carbon(dir, bare, dst.toAttr, stanza))
	}
}

// carbon wraps a message for one resource (XEP-0280 §7, §8): from the
// account's bare JID, of the message's type.
func carbon(dir string, fromAttr, toAttr, stanza []byte) []byte {
	b := make([]byte, 0, len(stanza)+192)
	b = append(b, "<message"...)
	b = append(b, fromAttr...)
	b = append(b, toAttr...)
	if t := messageType(stanza); t != "" {
		b = xmlesc.Attr(b, "type", t)
	}
	b = append(b, "><"+dir+" xmlns='"+nsCarbons+"'><forwarded xmlns='"+nsForward+"'>"...)
	b = appendForwarded(b, stanza)
	return append(b, "</forwarded></"+dir+"></message>"...)
}

// appendForwarded appends a stanza inside <forwarded/> (XEP-0297), which
// would otherwise lend it its namespace: the stanza declares jabber:client
// unless it declares a namespace itself.
func appendForwarded(b, stanza []byte) []byte {
	end := bytes.IndexByte(stanza, '>')
	name := bytes.IndexAny(stanza, " \t\r\n/>")
	if end < 0 || name < 0 || bytes.Contains(stanza[:end], []byte(" xmlns=")) {
		return append(b, stanza...)
	}
	b = append(b, stanza[:name]...)
	b = append(b, " xmlns='jabber:client'"...)
	return append(b, stanza[name:]...)
}

// messageType reads the type attribute of a message the hub wrote or
// stamped, whose attributes are quoted with ' or ".
func messageType(stanza []byte) string {
	end := bytes.IndexByte(stanza, '>')
	if end < 0 {
		return ""
	}
	tag := stanza[:end]
	i := bytes.Index(tag, []byte(" type="))
	if i < 0 || i+7 >= len(tag) {
		return ""
	}
	q := tag[i+6]
	v := tag[i+7:]
	j := bytes.IndexByte(v, q)
	if j < 0 {
		return ""
	}
	return string(v[:j])
}
