package hub

import (
	"encoding/xml"
	"errors"
	"slices"

	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/pubsub"
	"mellium.im/xmpp/stanza"
)

// Namespaces the hub answers.
const (
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsPing       = "urn:xmpp:ping"
	nsVersion    = "jabber:iq:version"
	nsSession    = "urn:ietf:params:xml:ns:xmpp-session"
	nsRoster     = "jabber:iq:roster"
	nsDelay      = "urn:xmpp:delay"
)

// iqRequest is an IQ get or set that the hub answers itself.
type iqRequest struct {
	el      *wire.Element
	set     bool
	iq      *xmlnode.Node // the stanza, read
	payload *xmlnode.Node // its one child (RFC 6120 §8.2.3)
	to      addr
}

type iqHandler func(ss *session, req *iqRequest)

// iqRoutes holds the handlers for IQs to the server or to the sender's own
// account, and the features they add to disco#info.
func (s *Server) iqRoutes() map[xml.Name]iqHandler {
	return map[xml.Name]iqHandler{
		{Space: nsDiscoInfo, Local: "query"}:    s.discoInfo,
		{Space: nsDiscoItems, Local: "query"}:   s.discoItems,
		{Space: nsPing, Local: "ping"}:          pong,
		{Space: nsVersion, Local: "query"}:      s.version,
		{Space: nsSession, Local: "session"}:    pong,
		{Space: nsRoster, Local: "query"}:       s.rosters.handleIQ,
		{Space: nsBlocking, Local: "blocklist"}: s.blocking.handleIQ,
		{Space: nsBlocking, Local: "block"}:     s.blocking.handleIQ,
		{Space: nsBlocking, Local: "unblock"}:   s.blocking.handleIQ,
		{Space: nsCarbons, Local: "enable"}:     s.carbonsIQ,
		{Space: nsCarbons, Local: "disable"}:    s.carbonsIQ,
		nameMAMQuery:                            s.mamIQ,
		{Space: nsMAM, Local: "metadata"}:       s.mamMetadata,
		{Space: nsMAM, Local: "prefs"}:          s.mamPrefs,
	}
}

// serverFeatures is exactly what disco#info on the domain advertises.
var serverFeatures = []string{
	nsDiscoInfo, nsDiscoItems, nsPing, nsVersion, nsRoster, nsBlocking, nsCarbons,
	"msgoffline",                  // XEP-0160
	"urn:xmpp:features:rosterver", // RFC 6121 §2.6
}

// accountFeatures is what disco#info on an account's bare JID advertises;
// with the message archive on, the MAM features too (mamFeatures).
var accountFeatures = []string{nsDiscoInfo, nsDiscoItems, nsPing}

// mamFeatures are the account's archive (XEP-0313 §6.1) and its
// stanza-ids (XEP-0359), where clients such as Conversations and Gajim
// look for them.
var mamFeatures = []string{nsMAM, nsMAMExtended, nsSID}

var errIQShape = errors.New("an IQ get or set must have exactly one child element")

// decodeIQ reads an IQ request and finds its single payload element.
func decodeIQ(el *wire.Element) (iq, payload *xmlnode.Node, err error) {
	iq, err = xmlnode.Parse(el.Raw, stanza.NSClient)
	if err != nil {
		return nil, nil, err
	}
	if len(iq.Children) != 1 || iq.HasText() {
		return nil, nil, errIQShape
	}
	return iq, iq.Children[0], nil
}

// name is the qualified name of an element, the key of iqHandlers.
func name(n *xmlnode.Node) xml.Name { return xml.Name{Space: n.Space, Local: n.Local} }

// serverIQ answers an IQ request to the domain or to the sender's account.
func (s *Server) serverIQ(ss *session, el *wire.Element, to addr) {
	iq, payload, err := decodeIQ(el)
	if err != nil {
		ss.send(errorReply(ss, el, errBadRequest.withText(err.Error())))
		return
	}
	req := &iqRequest{el: el, set: string(el.Value(el.Type)) == "set", iq: iq, payload: payload, to: to}
	if to.kind != addrServer && s.pepIQ(ss, req, ss.bare) {
		return
	}
	h := s.iqHandlers[name(payload)]
	if h == nil {
		ss.send(errorReply(ss, el, errServiceUnavailable))
		return
	}
	h(ss, req)
}

// accountIQ answers, on behalf of another account, the few requests the hub
// handles for it: disco#info and ping, for those who may see the account.
func (s *Server) accountIQ(ss *session, el *wire.Element, to addr) {
	iq, payload, err := decodeIQ(el)
	if err != nil {
		ss.send(errorReply(ss, el, errBadRequest.withText(err.Error())))
		return
	}
	target := string(to.local)
	req := &iqRequest{el: el, set: string(el.Value(el.Type)) == "set", iq: iq, payload: payload, to: to}
	// PEP checks access node by node (an open node is readable by anyone),
	// and answers for an account that does not exist as for one without
	// nodes, so that PEP does not tell which accounts exist.
	if s.pepIQ(ss, req, s.accounts.JID(target)) {
		return
	}
	if name(payload) == nameMAMQuery {
		s.accountMAM(ss, req, s.accounts.JID(target)) // mam_pubsub.go
		return
	}
	if !s.accounts.Exists(target) || !s.rosters.maySee(ss.local, target) {
		ss.send(errorReply(ss, el, errServiceUnavailable))
		return
	}
	switch name(payload) {
	case xml.Name{Space: nsDiscoInfo, Local: "query"}:
		s.discoInfo(ss, req)
	case xml.Name{Space: nsDiscoItems, Local: "query"}:
		s.discoItems(ss, req)
	case xml.Name{Space: nsPing, Local: "ping"}:
		pong(ss, req)
	case xml.Name{Space: nsRoster, Local: "query"}:
		// RFC 6121 §2.1.5: a roster belongs to its account alone.
		ss.send(errorReply(ss, el, errForbidden))
	default:
		ss.send(errorReply(ss, el, errServiceUnavailable))
	}
}

func pong(ss *session, req *iqRequest) { ss.send(iqResult(ss, req.el, nil)) }

// discoInfo answers XEP-0030 info queries for the domain and for accounts.
func (s *Server) discoInfo(ss *session, req *iqRequest) {
	if req.set {
		ss.send(errorReply(ss, req.el, errBadRequest))
		return
	}
	if req.payload.Attr("node") != "" {
		ss.send(errorReply(ss, req.el, errItemNotFound))
		return
	}
	b := []byte("<query xmlns='" + nsDiscoInfo + "'>")
	features := accountFeatures
	if req.to.kind == addrServer {
		b = append(b, "<identity category='server' type='im' name='GeoHub'/>"...)
		features = serverFeatures
	} else {
		b = append(b, "<identity category='account' type='registered'/>"...)
		if s.archive.on() {
			features = append(slices.Clip(features), mamFeatures...)
		}
	}
	for _, f := range slices.Sorted(slices.Values(features)) {
		b = append(b, "<feature var='"...)
		b = append(b, f...)
		b = append(b, "'/>"...)
	}
	if req.to.kind != addrServer {
		b = append(b, pubsub.PEPDisco()...)
	}
	b = append(b, "</query>"...)
	ss.send(iqResult(ss, req.el, b))
}

// discoItems lists the server's services: the pubsub service. (disco#items
// on accounts lists PEP nodes, answered by pepIQ.)
func (s *Server) discoItems(ss *session, req *iqRequest) {
	if req.set {
		ss.send(errorReply(ss, req.el, errBadRequest))
		return
	}
	if req.payload.Attr("node") != "" {
		ss.send(errorReply(ss, req.el, errItemNotFound))
		return
	}
	b := []byte("<query xmlns='" + nsDiscoItems + "'><item")
	b = xmlesc.Attr(b, "jid", s.pubsub.Host())
	b = append(b, " name='Publish-subscribe'/></query>"...)
	ss.send(iqResult(ss, req.el, b))
}

// version answers XEP-0092 for the hub. The OS is left out on purpose.
func (s *Server) version(ss *session, req *iqRequest) {
	if req.set || req.to.kind != addrServer {
		ss.send(errorReply(ss, req.el, errServiceUnavailable))
		return
	}
	b := []byte("<query xmlns='" + nsVersion + "'><name>GeoHub</name><version>")
	b = xmlesc.Text(b, s.cfg.Version)
	b = append(b, "</version></query>"...)
	ss.send(iqResult(ss, req.el, b))
}
