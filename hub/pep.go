package hub

import (
	"encoding/xml"
	"slices"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/pubsub"
)

// The hub's side of publish-subscribe: it routes pubsub requests to the
// pubsub package (the service at pubsub.<domain>, PEP on accounts) and
// answers pubsub's questions about presence, rosters and capabilities.

// isPubSubRequest reports a payload in the pubsub namespaces.
func isPubSubRequest(payload *xmlnode.Node) bool {
	return payload.Space == pubsub.NS || payload.Space == pubsub.NSOwner
}

// pubsubRequest makes the request pubsub sees: the sender's full JID, the
// service it went to, and the raw IQ.
func pubsubRequest(ss *session, el *wire.Element, iq *xmlnode.Node, service string, noTo bool) pubsub.Request {
	return pubsub.Request{From: ss.full, To: service, NoTo: noTo, ID: iq.Attr("id"),
		Set: string(el.Value(el.Type)) == "set", IQ: iq}
}

// serviceIQ handles an IQ to pubsub.<domain>.
func (s *Server) serviceIQ(ss *session, el *wire.Element) {
	iq, payload, err := decodeIQ(el)
	if err != nil {
		ss.send(errorReply(ss, el, errBadRequest.withText(err.Error())))
		return
	}
	r := pubsubRequest(ss, el, iq, s.pubsub.Host(), false)
	switch {
	case isPubSubRequest(payload):
		s.pubsub.HandleIQ(r, ss.sendFunc)
	case name(payload) == xml.Name{Space: nsDiscoInfo, Local: "query"} && !r.Set:
		s.pubsub.DiscoInfo(r, payload.Attr("node"), ss.sendFunc)
	case name(payload) == xml.Name{Space: nsDiscoItems, Local: "query"} && !r.Set:
		s.pubsub.DiscoItems(r, payload.Attr("node"), ss.sendFunc)
	case name(payload) == xml.Name{Space: nsPing, Local: "ping"}:
		ss.send(iqResult(ss, el, nil))
	case name(payload) == nameMAMQuery:
		s.serviceMAM(ss, &iqRequest{el: el, set: r.Set, iq: iq, payload: payload}) // mam_pubsub.go
	default:
		ss.send(errorReply(ss, el, errServiceUnavailable))
	}
}

// pepIQ handles a pubsub request or a disco query with a node on an
// account's bare JID (XEP-0163). It reports false for anything else.
func (s *Server) pepIQ(ss *session, req *iqRequest, owner string) bool {
	node := req.payload.Attr("node")
	r := pubsubRequest(ss, req.el, req.iq, owner, req.to.kind == addrNone)
	switch {
	case isPubSubRequest(req.payload):
		s.pubsub.HandleIQ(r, ss.sendFunc)
	case name(req.payload) == xml.Name{Space: nsDiscoItems, Local: "query"} && !req.set:
		s.pubsub.DiscoItems(r, node, ss.sendFunc)
	case name(req.payload) == xml.Name{Space: nsDiscoInfo, Local: "query"} && !req.set && node != "":
		s.pubsub.DiscoInfo(r, node, ss.sendFunc)
	default:
		return false
	}
	return true
}

func (ss *session) sendFunc(b []byte) { ss.send(b) }

// pubsubDirectory answers pubsub's questions; it is the Server seen through
// the pubsub.Directory interface.
type pubsubDirectory struct{ s *Server }

// local returns the localpart of a bare JID at this hub.
// local returns the account of a bare JID: a local account's localpart,
// or a remote account's bare JID (devices.IsRemote), which reads nodes
// with the groups it was given here.
func (d pubsubDirectory) local(bare string) (string, bool) {
	if l, ok := d.s.rosters.localName(bare); ok {
		return l, true
	}
	if devices.IsRemote(bare) && d.s.accounts.Exists(bare) {
		return bare, true
	}
	return "", false
}

func (d pubsubDirectory) PresenceSubscribed(owner, contact string) bool {
	o, ok1 := d.local(owner)
	if ok1 && d.s.fed != nil && devices.IsRemote(contact) && d.s.fed.remote(contact) {
		return d.s.rosters.hasSubscriber(o, contact)
	}
	c, ok2 := d.local(contact)
	return ok1 && ok2 && d.s.rosters.maySee(c, o)
}

func (d pubsubDirectory) InRosterGroups(owner, contact string, groups []string) bool {
	o, ok := d.local(owner)
	if !ok {
		return false
	}
	r := d.s.rosters
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.viewOf(o, r.get(o), contact)
	if !ok {
		return false
	}
	for _, g := range v.groups {
		if slices.Contains(groups, g) {
			return true
		}
	}
	return false
}

func (d pubsubDirectory) Interested(owner, feature string) []string {
	o, ok := d.local(owner)
	if !ok {
		return nil
	}
	s := d.s
	s.rosters.mu.Lock()
	accounts := append(s.rosters.related(o, s.rosters.get(o), subscription.hasFrom), o)
	s.rosters.mu.Unlock()
	accounts = s.unblocked(o, "", accounts)
	var out []string
	for _, a := range accounts {
		if devices.IsRemote(a) {
			// A remote contact's resources, as far as their presence to
			// the owner tells (remotepep.go; none from a domain refused
			// by --s2s-allow or --s2s-deny, whose streams are refused).
			out = append(out, s.remotePEP.interested(a, o, feature)...)
			continue
		}
		for _, ss := range s.router.sessions(a) {
			if ss.available() && ss.wants(feature) {
				out = append(out, ss.full)
			}
		}
	}
	return out
}

func (d pubsubDirectory) Resources(bare string) []string {
	if d.s.cfg.Upstream != nil {
		return []string{bare} // the upstream server fans out to its resources
	}
	if d.s.fed != nil && d.s.fed.remote(bare) {
		// Another server knows its resources: the bare JID reaches them.
		return []string{bare}
	}
	local, ok := d.local(bare)
	if !ok {
		return nil
	}
	var out []string
	for _, ss := range d.s.router.sessions(local) {
		if ss.deliverable() {
			out = append(out, ss.full)
		}
	}
	return out
}

// Deliver routes a notification from the pubsub service or a PEP service
// like a message of its type: to one resource, or to every available
// resource with non-negative priority. Notifications are not stored offline;
// one with a latest key supersedes a queued one with the same key for a
// resource that is behind (backlog.go).
func (d pubsubDirectory) Deliver(to string, stanza []byte, latest string) {
	s := d.s
	if s.cfg.Upstream != nil {
		s.upstreamNotify(stanza)
		return
	}
	a, dst, ok := s.jidTarget(to)
	switch {
	case !ok || s.blockedNotification(a, stanza):
	case dst != nil:
		dst.sendLatest(stanza, latest)
	case a.kind == addrBare:
		for _, ss := range s.router.sessionsB(a.local) {
			if ss.deliverable() {
				ss.sendLatest(stanza, latest)
			}
		}
	case a.kind == addrRemote && s.fed != nil:
		s.fed.sendRaw(string(a.domain), stanza)
	}
}

// toAvailable sends stanza to every available resource of the account
// local with non-negative priority; it reports whether any got it.
func (s *Server) toAvailable(local, stanza []byte) bool {
	delivered := false
	for _, ss := range s.router.sessionsB(local) {
		if ss.deliverable() {
			ss.send(stanza)
			delivered = true
		}
	}
	return delivered
}

// pepAvailable sends a newly available resource the last PEP items it
// wants, once its capabilities are known.
func (s *Server) pepAvailable(ss *session) {
	s.rosters.mu.Lock()
	owners := s.rosters.related(ss.local, s.rosters.get(ss.local), subscription.hasTo)
	s.rosters.mu.Unlock()
	owners = s.unblocked(ss.local, "", owners)
	jids := make([]string, 0, len(owners)+1)
	jids = append(jids, ss.bare)
	for _, o := range owners {
		jids = append(jids, s.accounts.JID(o))
	}
	s.pubsub.Available(ss.full, jids, ss.wants)
}

// isPubSubHost reports whether a parsed address is the pubsub service.
func (s *Server) isPubSubHost(a addr) bool {
	return a.kind == addrRemote && len(a.local) == 0 && len(a.resource) == 0 && string(a.domain) == s.pubsub.Host()
}
