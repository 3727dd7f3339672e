package hub

import (
	"encoding/xml"
	"slices"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/pubsub"
)

// The hub's own contact. Alerts and the answers to chat commands come from
// an account-like JID, <name>@<domain>/hub, because clients (Converse.js
// among them) take a message from a bare domain for a server announcement
// and keep no chat with it. It is not an account: nobody logs in as it,
// and the account store reserves its name. Like a shared-group peer it is
// in the roster of every operator and admin, subscribed both ways, is
// available while the hub runs, and answers disco#info, ping and version.
// Devices do not have it: they do not chat. Messages from it carry the
// full JID, as a contact's do, so that replies and the presence a client
// shows match one resource.

const (
	hubResource    = "hub"
	hubContactName = "GeoHub"
	hubGroup       = "GeoHub"
	hubStatus      = "Alerts and chat commands: send help"
)

// hubFeatures is what disco#info on the hub's JID advertises.
var hubFeatures = []string{nsDiscoInfo, nsDiscoItems, nsPing, nsVersion}

// hubJID is the hub's own JID in the forms the hub writes.
type hubJID struct {
	local        string // normalized localpart
	bare, full   string
	fromAttr     []byte // ` from='full'`
	bareFromAttr []byte // ` from='bare'`
}

func newHubJID(local, domain string) hubJID {
	h := hubJID{local: local, bare: local + "@" + domain}
	h.full = h.bare + "/" + hubResource
	h.fromAttr = xmlesc.Attr(nil, "from", h.full)
	h.bareFromAttr = xmlesc.Attr(nil, "from", h.bare)
	return h
}

// hubWatcher reports whether the account local has the hub as a contact:
// operators and admins.
func (s *Server) hubWatcher(local string) bool {
	a, ok := s.accounts.Get(local)
	return ok && a.Role.Watches()
}

// hubView is a watcher's view of the hub's contact: what the user stored
// (a name, groups) stays, the subscription is both, and the user cannot
// remove it. Others see what they stored, if anything.
func (s *Server) hubView(local string, v viewItem, stored bool) (viewItem, bool) {
	if !s.hubWatcher(local) {
		return v, stored
	}
	v.jid, v.sub, v.ask, v.managed = s.hub.bare, subBoth, false, true
	if v.name == "" {
		v.name = hubContactName
	}
	if len(v.groups) == 0 {
		v.groups = []string{hubGroup}
	}
	return v, true
}

// hubPresence is the hub's presence addressed to ss.
func (s *Server) hubPresence(ss *session, available bool) []byte {
	b := []byte("<presence")
	if !available {
		b = append(b, " type='unavailable'"...)
	}
	b = append(b, s.hub.fromAttr...)
	b = append(b, ss.toAttr...)
	if !available {
		return append(b, "/>"...)
	}
	b = append(b, "><status>"...)
	b = xmlesc.Text(b, hubStatus)
	return append(b, "</status></presence>"...)
}

// hubBlocked reports whether the account local blocks the hub's JID
// (XEP-0191): then it gets neither the hub's presence nor its alerts.
func (s *Server) hubBlocked(local string) bool {
	return blockMatch(s.blocking.of(local), s.hub.local, s.domain, hubResource)
}

// hubSees reports whether the session ss hears of the hub's presence.
func (s *Server) hubSees(ss *session) bool {
	return ss.available() && s.hubWatcher(ss.local) && !s.hubBlocked(ss.local)
}

// hubPresenceTo tells an available session of a watcher that the hub is
// online: at its first presence, and when it probes.
func (s *Server) hubPresenceTo(ss *session) {
	if s.hubSees(ss) {
		ss.send(s.hubPresence(ss, true))
	}
}

// hubGone tells the watchers' available sessions that the hub goes
// offline; Close calls it before it ends the sessions.
func (s *Server) hubGone() {
	for _, ss := range s.router.all() {
		if s.hubSees(ss) {
			ss.send(s.hubPresence(ss, false))
		}
	}
}

// hubBlockChanged follows a blocklist change of local with the hub's
// presence, as blockPresence does for contacts: unavailable once local
// blocks the hub's JID, available once it no longer does.
func (s *Server) hubBlockChanged(local string, old, next *blockSet) {
	was := blockMatch(old, s.hub.local, s.domain, hubResource)
	now := blockMatch(next, s.hub.local, s.domain, hubResource)
	if was == now || !s.hubWatcher(local) {
		return
	}
	for _, ss := range s.router.sessions(local) {
		if ss.available() {
			ss.send(s.hubPresence(ss, was))
		}
	}
}

// hubRoleChanged gives an account that became an operator or admin the
// hub's contact, with a roster push and its presence, and takes it from
// one that no longer is.
func (s *Server) hubRoleChanged(c devices.Change) {
	if c.After == nil {
		return // removed: its sessions are closed
	}
	was, is := c.Before != nil && c.Before.Role.Watches(), c.After.Role.Watches()
	if was == is {
		return
	}
	name := c.After.Name
	r := s.rosters
	r.mu.Lock()
	r.push(name, r.get(name), s.hub.bare)
	r.unlock()
	if s.hubBlocked(name) {
		return
	}
	for _, ss := range s.router.sessions(name) {
		if ss.available() {
			ss.send(s.hubPresence(ss, is))
		}
	}
}

// hubSubscription answers subscription stanzas to the hub's JID. A watcher
// is subscribed both ways whatever it sends: its subscribe is approved at
// once (RFC 6121 §3.1.3) and the hub's presence follows; after an
// unsubscribe a roster push shows the contact unchanged. Anyone else is
// ignored, as for an account that does not exist.
func (s *Server) hubSubscription(ss *session, typ string) {
	if !s.hubWatcher(ss.local) {
		return
	}
	switch typ {
	case "subscribe":
		b := []byte("<presence type='subscribed'")
		b = append(b, s.hub.bareFromAttr...)
		b = xmlesc.Attr(b, "to", ss.bare)
		ss.send(append(b, "/>"...))
		s.hubPresenceTo(ss)
	case "unsubscribe", "unsubscribed":
		r := s.rosters
		r.mu.Lock()
		r.push(ss.local, r.get(ss.local), s.hub.bare)
		r.unlock()
	}
}

// hubIQ answers an IQ request to the hub's JID, bare or with its resource.
// Anything it does not handle, and any other resource, gets
// service-unavailable (RFC 6120 §8.3.3.19).
func (s *Server) hubIQ(ss *session, el *wire.Element, to addr) {
	if len(to.resource) > 0 && string(to.resource) != hubResource {
		ss.send(errorReply(ss, el, errServiceUnavailable))
		return
	}
	_, payload, err := decodeIQ(el)
	if err != nil {
		ss.send(errorReply(ss, el, errBadRequest.withText(err.Error())))
		return
	}
	if string(el.Value(el.Type)) == "set" {
		ss.send(errorReply(ss, el, errServiceUnavailable))
		return
	}
	switch name(payload) {
	case xml.Name{Space: nsDiscoInfo, Local: "query"}:
		if payload.Attr("node") != "" {
			ss.send(errorReply(ss, el, errItemNotFound))
			return
		}
		b := []byte("<query xmlns='" + nsDiscoInfo + "'><identity category='client' type='bot' name='" + hubContactName + "'/>")
		for _, f := range slices.Sorted(slices.Values(hubFeatures)) {
			b = append(b, "<feature var='"...)
			b = append(b, f...)
			b = append(b, "'/>"...)
		}
		ss.send(iqResult(ss, el, append(b, "</query>"...)))
	case xml.Name{Space: nsDiscoItems, Local: "query"}:
		if payload.Attr("node") != "" {
			ss.send(errorReply(ss, el, errItemNotFound))
			return
		}
		ss.send(iqResult(ss, el, []byte("<query xmlns='"+nsDiscoItems+"'/>")))
	case xml.Name{Space: nsPing, Local: "ping"}:
		ss.send(iqResult(ss, el, nil))
	case xml.Name{Space: nsVersion, Local: "query"}:
		b := []byte("<query xmlns='" + nsVersion + "'><name>GeoHub</name><version>")
		b = xmlesc.Text(b, s.cfg.Version)
		ss.send(iqResult(ss, el, append(b, "</version></query>"...)))
	case xml.Name{Space: pubsub.NS, Local: "pubsub"}, xml.Name{Space: nsVCard, Local: "vCard"}:
		// The contact has no PEP nodes and no vCard. item-not-found says
		// so; service-unavailable would be taken for a failure (Converse
		// asks for its OMEMO device list again before every message).
		ss.send(errorReply(ss, el, errItemNotFound))
	default:
		ss.send(errorReply(ss, el, errServiceUnavailable))
	}
}

// nsVCard is vcard-temp (XEP-0054).
const nsVCard = "vcard-temp"
