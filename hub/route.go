package hub

import (
	"bytes"

	"github.com/geohub/geohub/hub/internal/wire"
)

// routeMessage delivers a message following RFC 6121 §8.5 and RFC 6120
// §10.3.1. This is the hot path: a message to an online full JID is parsed,
// looked up and copied into the recipient's outbox without allocating.
func (s *Server) routeMessage(ss *session, el *wire.Element) {
	to, err := s.parseAddr(el.Value(el.To), &ss.scratch)
	if err != nil {
		s.replyError(ss, el, errJIDMalformed)
		return
	}
	if s.blockedOut(ss, el, to) {
		return
	}
	typ := el.Value(el.Type)
	switch to.kind {
	case addrFull:
		if dst := s.router.find(to.local, to.resource); dst != nil {
			if blockedIn(ss, el, dst) {
				return
			}
			switch f := s.imOfElement(el); {
			case f != 0 && s.deliverIMFull(ss, el, dst, f): // chatroute.go
				return
			case f == 0 && dst.sendStamped(el, ss.fromAttr):
				return
			}
			// The session closed as the message came: as if it were gone.
		}
		// §8.5.3.2.1: a chat follows the user to another resource or to
		// offline storage; other types are not delivered elsewhere.
		switch string(typ) {
		case "chat":
			s.messageToBare(ss, el, to.local, typ)
		case "error", "headline":
		default:
			s.replyError(ss, el, errServiceUnavailable)
		}
	case addrBare:
		s.messageToBare(ss, el, to.local, typ)
	case addrNone:
		s.messageToBare(ss, el, []byte(ss.local), typ)
	case addrServer, addrHub:
		s.serverMessage(ss, el, to)
	case addrRemote:
		switch {
		case s.isPubSubHost(to):
			s.replyError(ss, el, errServiceUnavailable)
		case s.fed != nil:
			s.fed.send(ss, el, to)
		default:
			s.replyError(ss, el, errRemoteNotFound)
		}
	}
}

// messageToBare delivers to every available resource with non-negative
// priority (§8.5.2.1.1), or stores the message offline (XEP-0160).
// Errors are dropped and groupchat messages refused (§8.5.2.1.1).
func (s *Server) messageToBare(ss *session, el *wire.Element, local, typ []byte) {
	switch string(typ) {
	case "error":
		return
	case "groupchat":
		s.replyError(ss, el, errServiceUnavailable)
		return
	}
	flags := s.imOfElement(el) // archived and carbon-copied: chatroute.go
	var m *imMessage
	delivered := false
	for _, dst := range s.router.sessionsB(local) {
		if dst.deliverable() {
			if blockedIn(ss, el, dst) { // the account's resources share one list
				return
			}
			if flags == 0 {
				delivered = dst.sendStamped(el, ss.fromAttr) || delivered
			} else {
				if m == nil {
					m = s.imToBare(ss, el, string(local), flags)
				}
				delivered = dst.send(m.in) || delivered
			}
		}
	}
	if delivered {
		if m != nil {
			s.imDelivered(m, ss, string(local))
		}
		return
	}
	if string(typ) == "headline" {
		return
	}
	name := string(local)
	if !s.accounts.Exists(name) {
		s.replyError(ss, el, errServiceUnavailable)
		return
	}
	if !storable(el) || s.blockedInAccount(ss, el, name) {
		return
	}
	var stamped []byte
	var startEnd int
	if flags == 0 {
		stamped = wire.AppendStamped(nil, el, ss.fromAttr)
		startEnd = el.StartEnd + len(ss.fromAttr)
		if el.Has(el.FromAttr) {
			startEnd -= el.FromAttr.End - el.FromAttr.Start
		}
	} else {
		if m == nil { // not archived yet: no resource took it
			m = s.imToBare(ss, el, name, flags)
		}
		stamped, startEnd = m.in, m.startEnd
		defer s.imDelivered(m, ss, name)
	}
	switch err := s.storeOffline(name, stamped, startEnd, el.Empty, false); err {
	case nil:
	case errStorageFull:
		s.replyError(ss, el, errOfflineFull)
	default:
		s.log.Error("storing offline message", "to", name, "err", err)
		s.replyError(ss, el, writeError(err))
	}
}

// storable reports whether a message is worth keeping for later: it has a
// body or a payload other than a chat state notification (XEP-0160 §3,
// XEP-0085 §5.6).
func storable(el *wire.Element) bool {
	inner := el.Raw[el.StartEnd:]
	if el.Empty || len(bytes.TrimSpace(inner)) <= len("</message>") {
		return false
	}
	if bytes.Contains(inner, []byte("<body")) {
		return true
	}
	return !bytes.Contains(inner, []byte("http://jabber.org/protocol/chatstates"))
}

// routeIQ delivers an IQ between clients untouched but for its from (so
// that Jingle and anything else works end to end), or hands it to the
// server's handlers (RFC 6120 §10.5, RFC 6121 §8.5).
func (s *Server) routeIQ(ss *session, el *wire.Element) {
	typ := string(el.Value(el.Type))
	request := typ == "get" || typ == "set"
	if !request && typ != "result" && typ != "error" || !el.Has(el.ID) {
		ss.send(errorReply(ss, el, errBadRequest.withText("an IQ needs an id and a type of get, set, result or error")))
		return
	}
	to, err := s.parseAddr(el.Value(el.To), &ss.scratch)
	if err != nil {
		if request {
			ss.send(errorReply(ss, el, errJIDMalformed))
		}
		return
	}
	if s.blockedOut(ss, el, to) {
		return
	}
	switch to.kind {
	case addrFull:
		if dst := s.router.find(to.local, to.resource); dst != nil {
			if !blockedIn(ss, el, dst) {
				dst.sendStamped(el, ss.fromAttr)
			}
			return
		}
		if request {
			ss.send(errorReply(ss, el, errServiceUnavailable))
		}
	case addrNone, addrServer:
		if request {
			s.serverIQ(ss, el, to)
		} else {
			s.answered(ss, el)
		}
	case addrBare:
		if request {
			if string(to.local) == ss.local {
				s.serverIQ(ss, el, to)
			} else if !s.blockedInAccount(ss, el, string(to.local)) {
				s.accountIQ(ss, el, to)
			}
		}
	case addrHub:
		if request {
			s.hubIQ(ss, el, to)
		}
	case addrRemote:
		switch {
		case s.isPubSubHost(to):
			if request {
				s.serviceIQ(ss, el)
			}
		case s.fed != nil:
			s.fed.send(ss, el, to)
		case request:
			ss.send(errorReply(ss, el, errRemoteNotFound))
		}
	}
}
