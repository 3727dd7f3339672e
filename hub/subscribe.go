package hub

import (
	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlesc"
)

func addTo(s subscription) subscription   { return s | subTo }
func addFrom(s subscription) subscription { return s | subFrom }
func dropTo(s subscription) subscription  { return s &^ subTo }
func dropFrom(s subscription) subscription {
	return s &^ subFrom
}

// subscriptionOut processes a subscription stanza from the user's side
// (RFC 6121 §3.1.2, §3.1.5, §3.2.2, §3.3.2) and hands it to the contact's
// side. Subscriptions to other domains need federation with them.
func (s *Server) subscriptionOut(ss *session, el *wire.Element, to addr, typ string) {
	switch to.kind {
	case addrRemote:
		// A domain the hub does not federate with (--s2s-allow,
		// --s2s-deny) is refused before the roster changes.
		if s.fed == nil || len(to.local) == 0 || !s.fed.remote(to.bare()) {
			s.replyError(ss, el, errRemoteNotFound)
			return
		}
	case addrNone, addrServer:
		s.replyError(ss, el, errBadRequest.withText("subscriptions are to accounts"))
		return
	case addrHub:
		s.hubSubscription(ss, typ)
		return
	}
	contact := to.bare()
	if contact == ss.bare {
		return
	}
	peer := string(to.local)
	fwd := wire.AppendAddressed(nil, el, ss.bareFromAttr, xmlesc.Attr(nil, "to", contact))

	r := s.rosters
	r.mu.Lock()
	defer r.unlock()
	ro := r.get(ss.local)
	var it rosterItem
	exists := false
	if old := ro.items[contact]; old != nil {
		it, exists = *old, true
	} else {
		it = rosterItem{JID: contact}
	}
	changed := false
	switch typ {
	case "subscribe":
		if it.Hidden || !exists {
			it.Hidden, changed = false, true
		}
		if !it.Sub.hasTo() && !it.Ask {
			it.Ask, changed = true, true
		}
	case "subscribed":
		if !it.In {
			return // no request to approve (pre-approval is not offered)
		}
		it.In, it.Hidden, it.Sub, changed = false, false, addFrom(it.Sub), true
	case "unsubscribe":
		if !it.Sub.hasTo() && !it.Ask {
			return
		}
		it.Sub, it.Ask, changed = dropTo(it.Sub), false, true
	case "unsubscribed":
		if !it.Sub.hasFrom() && !it.In {
			return
		}
		it.Sub, it.In, changed = dropFrom(it.Sub), false, true
	}
	if changed {
		remove := it.Hidden && it.Sub == subNone && !it.In
		r.save(ss.local, ro, &it, remove)
		if !it.Hidden {
			r.push(ss.local, ro, contact)
		}
	}
	if to.kind == addrRemote {
		// The contact's server handles its side.
		r.later(func() { s.fed.subscriptionOut(ss.local, contact, typ, fwd) })
		return
	}
	if !s.accounts.Exists(peer) {
		if typ == "subscribe" {
			// No such account: answer for it, so that the request does not
			// stay pending forever (RFC 6121 §3.1.3).
			r.inbound(ss.local, contact, "unsubscribed", nil)
		}
		return
	}
	r.inbound(peer, ss.bare, typ, fwd)
	switch typ {
	case "subscribed":
		r.later(func() { s.sendPresenceOf(ss.local, peer, true) })
	case "unsubscribed":
		r.later(func() { s.sendPresenceOf(ss.local, peer, false) })
	}
}

// inbound processes a subscription stanza on the contact's side (owner is
// the contact's localpart, from the user's bare JID) and delivers it to the
// owner's available resources (RFC 6121 §3.1.3, §3.1.6, §3.2.3, §3.3.3).
// fwd is the stanza to deliver, or nil to make a plain one. r.mu is held;
// what it sends goes once the change is durable (unlock).
func (r *rosters) inbound(owner, from, typ string, fwd []byte) {
	s := r.s
	ro := r.get(owner)
	fromLocal, _ := r.localName(from)
	var it rosterItem
	if old := ro.items[from]; old != nil {
		it = *old
	} else {
		it = rosterItem{JID: from, Hidden: true}
	}
	switch typ {
	case "subscribe":
		if fromLocal == "" && (it.Sub.hasFrom() || s.accounts.Peers(owner, from)) {
			// A remote contact already approved, or a remote account of
			// the owner's groups (as for a local one): its server hears so.
			r.later(func() { s.fed.subscriptionOut(owner, from, "subscribed", nil) })
			if s.accounts.Peers(owner, from) && !it.Sub.hasTo() && !it.Ask {
				// Its server tells its presence, and the caps PEP needs
				// (remotepep.go), only to its subscribers: the owner asks
				// back, as a group's presence is shared both ways.
				it.Ask, it.Hidden = true, false
				r.save(owner, ro, &it, false)
				r.push(owner, ro, from)
				r.later(func() { s.fed.subscriptionOut(owner, from, "subscribe", nil) })
			}
			return
		}
		if fromLocal != "" && (it.Sub.hasFrom() || s.accounts.Peers(owner, fromLocal)) {
			// Already approved: answer for the owner (§3.1.3).
			r.inbound(fromLocal, s.accounts.JID(owner), "subscribed", nil)
			r.later(func() { s.sendPresenceOf(owner, fromLocal, true) })
			return
		}
		if it.In {
			// Already pending: not delivered again (Appendix A.2.1); it
			// comes back at the next login until answered.
			return
		}
		it.In = true
		r.save(owner, ro, &it, false)
	case "subscribed":
		if !it.Ask {
			return
		}
		it.Ask, it.Sub = false, addTo(it.Sub)
	case "unsubscribe":
		if !it.Sub.hasFrom() && !it.In {
			return
		}
		it.Sub, it.In = dropFrom(it.Sub), false
	case "unsubscribed":
		if !it.Sub.hasTo() && !it.Ask {
			return
		}
		it.Sub, it.Ask = dropTo(it.Sub), false
	}
	if typ != "subscribe" {
		remove := it.Hidden && it.Sub == subNone && !it.In
		r.save(owner, ro, &it, remove)
		if !it.Hidden {
			r.push(owner, ro, from)
		}
	}
	if fwd == nil {
		fwd = subscriptionStanza(typ, from, s.accounts.JID(owner))
	}
	r.later(func() {
		for _, dst := range s.router.sessions(owner) {
			if dst.available() {
				dst.send(fwd)
			}
		}
		if typ == "unsubscribe" {
			// The user no longer sees the owner's presence (§3.3.3).
			s.sendPresenceOf(owner, fromLocal, false)
		}
	})
}

func subscriptionStanza(typ, from, to string) []byte {
	b := []byte("<presence")
	b = xmlesc.Attr(b, "type", typ)
	b = xmlesc.Attr(b, "from", from)
	b = xmlesc.Attr(b, "to", to)
	return append(b, "/>"...)
}

// deliverPending gives a newly available resource the subscription
// requests that are still unanswered (§3.1.3: requests are kept until the
// user answers).
func (r *rosters) deliverPending(ss *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, it := range r.get(ss.local).items {
		if it.In {
			ss.send(subscriptionStanza("subscribe", it.JID, ss.bare))
		}
	}
}
