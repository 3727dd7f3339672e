package hub

import (
	"bytes"
	"strconv"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/internal/wire"
)

// handlePresence processes presence a client sends (RFC 6121 §3, §4).
func (s *Server) handlePresence(ss *session, el *wire.Element) {
	typ := string(el.Value(el.Type))
	if !el.Has(el.To) {
		switch typ {
		case "":
			initial := !ss.available()
			s.broadcast(ss, el, true)
			s.presenceCaps(ss, el, initial)
		case "unavailable":
			s.broadcast(ss, el, false)
		case "error":
		default:
			s.replyError(ss, el, errBadRequest.withText("presence of type "+typ+" needs a to address"))
		}
		return
	}
	to, err := s.parseAddr(el.Value(el.To), &ss.scratch)
	if err != nil {
		s.replyError(ss, el, errJIDMalformed)
		return
	}
	if s.presenceBlocked(ss, el, to, typ) {
		return
	}
	switch typ {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		s.subscriptionOut(ss, el, to, typ)
	case "probe":
		if to.kind == addrRemote && s.fed != nil {
			s.fed.send(ss, el, to)
			return
		}
		s.probe(ss, to)
	case "", "unavailable", "error":
		s.directed(ss, el, to, typ)
	default:
		s.replyError(ss, el, errBadRequest.withText("unknown presence type"))
	}
}

// priority reads the <priority/> of a presence, 0 when absent or invalid.
func priority(el *wire.Element) int {
	inner := el.Raw[el.StartEnd:]
	i := bytes.Index(inner, []byte("<priority>"))
	if i < 0 {
		return 0
	}
	v := inner[i+len("<priority>"):]
	j := bytes.IndexByte(v, '<')
	if j < 0 {
		return 0
	}
	p, err := strconv.Atoi(string(bytes.TrimSpace(v[:j])))
	if err != nil || p < -128 || p > 127 {
		return 0
	}
	return p
}

// broadcast handles presence without a to: the session becomes available
// (or changes its presence) or unavailable, and its subscribers and the
// account's own resources learn it (RFC 6121 §4.2, §4.4, §4.5).
func (s *Server) broadcast(ss *session, el *wire.Element, available bool) {
	// A resource that starts taking messages for the bare JID (its first
	// presence, or a negative priority made non-negative) gets the stored
	// ones first, then live ones: see storeOffline. They are queued before
	// it counts as deliverable, so a live message on the unlocked path
	// (toAvailable) cannot overtake them. Taking them waits for a write, so
	// it happens before ss.pmu, which other sessions read under. (Only
	// this read loop changes ss.pres.)
	opens := available && priority(el) >= 0 && !ss.deliverable()
	var unlockOffline func()
	if opens {
		unlockOffline = s.offline.lock(ss.local)
		s.deliverOffline(ss)
		s.firstAvailable(ss)
	}
	ss.pmu.Lock()
	initial := ss.pres.Load() == 0
	var directed map[string]struct{}
	if available {
		ss.presence = append(ss.presence[:0], el.Raw...)
		ss.presEl = *el
		ss.presEl.Raw = ss.presence
		ss.pres.Store(int32(priority(el) + presenceBias))
		if opens {
			unlockOffline()
		}
	} else {
		if initial {
			ss.pmu.Unlock()
			return
		}
		ss.presence = nil
		ss.pres.Store(0)
		directed, ss.directed = ss.directed, nil
	}
	ss.pmu.Unlock()

	s.rosters.mu.Lock()
	ro := s.rosters.get(ss.local)
	subscribers := s.rosters.related(ss.local, ro, subscription.hasFrom)
	var contacts []string
	if available && initial {
		contacts = s.rosters.related(ss.local, ro, subscription.hasTo)
	}
	s.rosters.mu.Unlock()
	subscribers, contacts = s.unblocked(ss.local, ss.resource, subscribers), s.unblocked(ss.local, ss.resource, contacts)

	s.presenceToAccount(ss.local, el, ss.fromAttr)
	if !available {
		ss.sendAddressed(el, ss.fromAttr, ss.toAttr)
	}
	for _, sub := range subscribers {
		s.presenceToAccount(sub, el, ss.fromAttr)
		delete(directed, sub)
	}
	for target := range directed {
		s.presenceToJID(target, el, ss.fromAttr)
	}
	if !available || !initial {
		return
	}
	// The new resource learns who is online (§4.3, answered locally) and
	// gets what waited for it.
	for _, other := range s.router.sessions(ss.local) {
		if other != ss {
			other.presenceTo(ss)
		}
	}
	s.remotePresenceTo(ss.local, ss, true)
	s.hubPresenceTo(ss)
	for _, c := range contacts {
		if s.fed != nil && devices.IsRemote(c) {
			// A remote contact's server answers for it (RFC 6121 §4.3).
			s.fed.sendProbe(ss.bare, c)
			continue
		}
		for _, src := range s.router.sessions(c) {
			src.presenceTo(ss)
		}
		s.remotePresenceTo(c, ss, true)
	}
	s.rosters.deliverPending(ss)
}

// presenceCaps follows up an available presence: it learns the session's
// capabilities and, for its first presence, sends the last PEP items the
// session wants once they are known.
func (s *Server) presenceCaps(ss *session, el *wire.Element, initial bool) {
	s.noteCaps(ss, el, func() {
		if initial {
			s.pepAvailable(ss)
		}
	})
}

// presenceTo sends this session's current presence to dst, if it has one.
func (ss *session) presenceTo(dst *session) {
	ss.pmu.Lock()
	defer ss.pmu.Unlock()
	if ss.presence != nil {
		dst.sendAddressed(&ss.presEl, ss.fromAttr, dst.toAttr)
	}
}

// unavailableTo tells dst that this session is gone.
func (ss *session) unavailableTo(dst *session) {
	b := []byte("<presence type='unavailable'")
	b = append(b, ss.fromAttr...)
	b = append(b, dst.toAttr...)
	dst.sendLatest(append(b, "/>"...), string(ss.fromAttr))
}

// sendAddressed queues presence el with from and to replaced. For a
// session that is behind, it supersedes a queued presence of the same
// sender (backlog.go).
func (ss *session) sendAddressed(el *wire.Element, fromAttr, toAttr []byte) bool {
	if !ss.openOutbox() {
		return false
	}
	off := len(ss.out)
	ss.out = wire.AppendAddressed(ss.out, el, fromAttr, toAttr)
	if !presenceState(el) {
		return ss.queued()
	}
	if off >= conflateFrom || ss.holdsState() {
		ss.supersede(string(fromAttr), off)
	}
	return ss.queuedHeld(ss.inactive)
}

// presenceToAccount delivers presence to every available resource of local;
// for a remote account (devices.IsRemote), to its bare JID over the
// federation.
func (s *Server) presenceToAccount(local string, el *wire.Element, fromAttr []byte) {
	if s.fed != nil && devices.IsRemote(local) {
		s.fed.presenceTo(local, el, fromAttr)
		return
	}
	for _, dst := range s.router.sessions(local) {
		if dst.available() {
			dst.sendAddressed(el, fromAttr, dst.toAttr)
		}
	}
}

// presenceToJID delivers directed presence to a full or bare JID string.
func (s *Server) presenceToJID(target string, el *wire.Element, fromAttr []byte) {
	to, dst, ok := s.jidTarget(target)
	switch {
	case dst != nil:
		dst.sendAddressed(el, fromAttr, dst.toAttr)
	case ok && to.kind == addrBare:
		s.presenceToAccount(string(to.local), el, fromAttr)
	}
}

// sendPresenceOf tells every available resource of to about every available
// resource of from, remote ones included: their presence, or that they are
// gone.
func (s *Server) sendPresenceOf(from, to string, available bool) {
	dsts := s.router.sessions(to)
	for _, dst := range dsts {
		if dst.available() {
			s.remotePresenceTo(from, dst, available)
		}
	}
	for _, src := range s.router.sessions(from) {
		if !src.available() {
			continue
		}
		for _, dst := range dsts {
			if !dst.available() {
				continue
			}
			if available {
				src.presenceTo(dst)
			} else {
				src.unavailableTo(dst)
			}
		}
	}
}

// maxDirected bounds the entities one session remembers sending directed
// presence to.
const maxDirected = 1000

// directed handles presence sent to one entity (RFC 6121 §4.6). Available
// presence is remembered so that the entity hears when the session ends.
func (s *Server) directed(ss *session, el *wire.Element, to addr, typ string) {
	if to.kind == addrRemote {
		if s.fed != nil {
			s.fed.send(ss, el, to)
		} else {
			s.replyError(ss, el, errRemoteNotFound)
		}
		return
	}
	if to.kind != addrFull && to.kind != addrBare {
		return
	}
	target := to.bare()
	if to.kind == addrFull {
		target += "/" + string(to.resource)
	}
	if typ != "error" && s.accounts.Exists(string(to.local)) {
		ss.pmu.Lock()
		if typ == "" && ss.available() && len(ss.directed) < maxDirected {
			if ss.directed == nil {
				ss.directed = map[string]struct{}{}
			}
			ss.directed[target] = struct{}{}
		} else if typ != "" {
			delete(ss.directed, target)
		}
		ss.pmu.Unlock()
	}
	s.presenceToJID(target, el, ss.fromAttr)
}

// probe answers a client's presence probe with the current presence of the
// contact's resources, if the client is subscribed to it (RFC 6121 §4.3).
func (s *Server) probe(ss *session, to addr) {
	if to.kind == addrHub {
		s.hubPresenceTo(ss)
		return
	}
	if to.kind != addrBare && to.kind != addrFull {
		return
	}
	contact := string(to.local)
	if !s.rosters.maySee(ss.local, contact) {
		return
	}
	for _, src := range s.router.sessions(contact) {
		if src.available() {
			src.presenceTo(ss)
		}
	}
	s.remotePresenceTo(contact, ss, true)
}

// unavailableEl is the presence broadcast for a session that ends without
// saying goodbye.
var unavailableEl = func() wire.Element {
	raw := []byte("<presence type='unavailable'/>")
	el, _, err := wire.NewScanner(wire.Limits{}, "jabber:client").Next(raw)
	if err != nil {
		panic(err)
	}
	return *el
}()

// presenceGone broadcasts unavailable for a session that ended while
// available, unless a new session took over its resource.
func (s *Server) presenceGone(ss *session) {
	if !ss.available() {
		return
	}
	if s.router.find([]byte(ss.local), []byte(ss.resource)) != nil {
		return
	}
	el := unavailableEl
	s.broadcast(ss, &el, false)
}
