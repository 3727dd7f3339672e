package hub

import (
	"bytes"
	"slices"
	"strings"

	"github.com/geohub/geohub/hub/internal/wire"
)

// Where blocklists (XEP-0191, blocking.go) stop stanzas: the router's
// checks, presence fan-out and pubsub notifications. An account that blocks
// nobody costs each routed stanza one pointer load per side.

// blockedOut stops a stanza from ss to an entity ss blocks and answers
// not-acceptable with <blocked/> (§3.3). The hub itself and the account's
// own resources are never blocked.
func (s *Server) blockedOut(ss *session, el *wire.Element, to addr) bool {
	return ss.blocks.Load() != nil && s.refuseOut(ss, el, to)
}

func (s *Server) refuseOut(ss *session, el *wire.Element, to addr) bool {
	if to.kind == addrNone || to.kind == addrServer || to.kind != addrRemote && string(to.local) == ss.local {
		return false
	}
	if !blockMatch(ss.blocks.Load(), to.local, to.domain, to.resource) {
		return false
	}
	typ := string(el.Value(el.Type))
	if typ == "error" || el.Kind == wire.KindIQ && typ == "result" {
		return true
	}
	reply := errorReply(ss, el, stanzaErr{"cancel", "not-acceptable", "you have blocked this JID"})
	// The application condition follows the text (RFC 6120 §8.3.2).
	i := bytes.LastIndex(reply, []byte("</error>"))
	reply = append(reply[:i:i], append([]byte("<blocked xmlns='"+nsBlockingErrors+"'/>"), reply[i:]...)...)
	ss.send(reply)
	return true
}

// blockedIn stops a stanza from src to dst, a resource of an account that
// blocks src (§3.3): an IQ request or a chat or normal message gets
// service-unavailable, as if the account were offline; anything else is
// dropped.
func blockedIn(src *session, el *wire.Element, dst *session) bool {
	set := dst.blocks.Load()
	return set != nil && refuseIn(src, el, set, dst.local)
}

// blockedInAccount is blockedIn for a stanza to an account's bare JID
// that the hub handles or stores for it.
func (s *Server) blockedInAccount(src *session, el *wire.Element, local string) bool {
	set := s.blocking.of(local)
	return set != nil && refuseIn(src, el, set, local)
}

func refuseIn(src *session, el *wire.Element, set *blockSet, local string) bool {
	if src.local == local {
		return false
	}
	if src.isRemote() {
		// Known by its JID at its own domain, account here or not.
		if !blockMatch(set, src.jid.Localpart(), src.jid.Domainpart(), src.resource) {
			return false
		}
	} else if !blockMatch(set, src.local, src.srv.domain, src.resource) {
		return false
	}
	switch typ := string(el.Value(el.Type)); {
	case el.Kind == wire.KindIQ && (typ == "get" || typ == "set"),
		el.Kind == wire.KindMessage && (typ == "" || typ == "normal" || typ == "chat"):
		src.send(errorReply(src, el, errServiceUnavailable))
	}
	return true
}

// unblocked returns the accounts of list that neither block local (or its
// resource, if given) nor are blocked by local, for presence and
// notifications that go to whole accounts (a new slice when any goes). An
// item naming one resource of such an account stops only stanzas routed
// to that resource, not these.
func (s *Server) unblocked(local, resource string, list []string) []string {
	if s.blocking.n.Load() == 0 {
		return list
	}
	own := s.blocking.of(local)
	return slices.DeleteFunc(slices.Clone(list), func(c string) bool {
		// A remote contact is a bare JID; it has no blocklist here.
		if l, d, remote := strings.Cut(c, "@"); remote {
			return blockMatch(own, l, d, "")
		}
		return c != local && (blockMatch(s.blocking.of(c), local, s.domain, resource) || blockMatch(own, c, s.domain, ""))
	})
}

// presenceBlocked stops presence with a to address between ss and an
// entity one of them blocks: outbound with an error (but unsubscribe and
// unsubscribed, which only take from the blocked entity, still go),
// inbound silently (§3.3: no answer, no error).
func (s *Server) presenceBlocked(ss *session, el *wire.Element, to addr, typ string) bool {
	if typ != "unsubscribe" && typ != "unsubscribed" && s.blockedOut(ss, el, to) {
		return true
	}
	return (to.kind == addrBare || to.kind == addrFull) && s.blockedInAccount(ss, el, string(to.local))
}

// blockedNotification reports whether a pubsub notification (from the
// service or a PEP owner) to the account at to is between entities one of
// which blocks the other.
func (s *Server) blockedNotification(to addr, stanza []byte) bool {
	if s.blocking.n.Load() == 0 || to.kind != addrBare && to.kind != addrFull && to.kind != addrRemote {
		return false
	}
	el, _, err := wire.NewScanner(wire.Limits{}, "jabber:client").Next(stanza)
	if err != nil || !el.Has(el.From) {
		return false
	}
	var scratch []byte
	from, err := s.parseAddr(el.Value(el.From), &scratch)
	if err != nil || string(from.local) == string(to.local) && from.kind != addrRemote && to.kind != addrRemote {
		return false
	}
	// A remote subscriber has no blocklist here; the sender's may name it.
	if to.kind != addrRemote && blockMatch(s.blocking.of(string(to.local)), from.local, from.domain, from.resource) {
		return true
	}
	return from.kind != addrRemote && len(from.local) > 0 &&
		blockMatch(s.blocking.of(string(from.local)), to.local, to.domain, to.resource)
}
