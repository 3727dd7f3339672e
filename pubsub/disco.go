package pubsub

import (
	"strconv"
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
)

const (
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
)

// Features advertised: exactly what this package implements.
var (
	commonFeatures = []string{
		"access-open", "access-presence", "access-roster", "access-whitelist",
		"config-node", "config-node-max", "create-and-configure", "create-nodes", "delete-items", "delete-nodes",
		"item-ids", "last-published", "manage-subscriptions", "member-affiliation",
		"modify-affiliations", "outcast-affiliation", "persistent-items", "publish",
		"publish-options", "publisher-affiliation", "purge-nodes", "retract-items",
		"retrieve-affiliations", "retrieve-default", "retrieve-items", "retrieve-subscriptions",
		"subscribe",
	}
	serviceOnly = []string{"instant-nodes"}
	pepOnly     = []string{"auto-create", "auto-subscribe", "filtered-notifications", "presence-notifications"}
)

// appendFeatures writes <feature/> elements for the pubsub features of a
// service or of PEP.
func appendFeatures(b []byte, pep bool) []byte {
	b = append(b, "<feature var='"+NS+"'/>"...)
	extra := serviceOnly
	if pep {
		extra = pepOnly
	}
	for _, list := range [][]string{commonFeatures, extra} {
		for _, f := range list {
			b = append(b, "<feature var='"+NS+"#"+f+"'/>"...)
		}
	}
	return b
}

// PEPDisco returns the identity and features that disco#info on an
// account's bare JID adds for PEP (XEP-0163 §1).
func PEPDisco() []byte {
	b := []byte("<identity category='pubsub' type='pep'/>")
	return appendFeatures(b, true)
}

// DiscoInfo answers disco#info on the service or on one of its nodes, or on
// a PEP node (node must then be given).
func (s *Service) DiscoInfo(r Request, node string, reply func([]byte)) {
	b := []byte("<query xmlns='" + nsDiscoInfo + "'")
	if node == "" {
		b = append(b, "><identity category='pubsub' type='service' name='GeoHub publish-subscribe'/>"...)
		b = append(b, "<feature var='"+nsDiscoInfo+"'/><feature var='"+nsDiscoItems+"'/>"...)
		b = appendFeatures(b, false)
		reply(r.result(append(b, "</query>"...)))
		return
	}
	s.mu.RLock()
	n := s.node(r.To, node)
	if n == nil || s.canRead(n, r.fromBare()) != nil {
		s.mu.RUnlock()
		reply(r.error(errItemNotFound.with("no such node")))
		return
	}
	b = xmlesc.Attr(b, "node", node)
	b = append(b, "><identity category='pubsub' type='leaf'/><feature var='"+NS+"'/>"...)
	b = append(b, "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>"+formTypeMetaData+"</value></field>"...)
	meta := [][2]string{
		{"pubsub#title", n.Config.Title},
		{"pubsub#creator", n.Creator},
		{"pubsub#creation_date", n.Created.Format(time.RFC3339)},
		{"pubsub#access_model", n.Config.AccessModel},
		{"pubsub#publish_model", n.Config.PublishModel},
		{"pubsub#max_items", strconv.Itoa(n.Config.MaxItems)},
		{"pubsub#num_subscribers", strconv.Itoa(len(n.Subs))},
	}
	for _, o := range n.owners() {
		meta = append(meta, [2]string{"pubsub#owner", o})
	}
	s.mu.RUnlock()
	for _, m := range meta {
		b = append(b, "<field var='"+m[0]+"'><value>"...)
		b = xmlesc.Text(b, m[1])
		b = append(b, "</value></field>"...)
	}
	reply(r.result(append(b, "</x></query>"...)))
}

// DiscoItems lists the nodes of a service (or a PEP service) the requester
// may see, or the items of one node (XEP-0060 §5.2, §5.5).
func (s *Service) DiscoItems(r Request, node string, reply func([]byte)) {
	who := r.fromBare()
	b := []byte("<query xmlns='" + nsDiscoItems + "'")
	if node != "" {
		b = xmlesc.Attr(b, "node", node)
	}
	b = append(b, '>')
	s.mu.RLock()
	if node == "" {
		for _, n := range s.sortedNodes(r.To) {
			if s.canRead(n, who) != nil {
				continue
			}
			b = append(b, "<item"...)
			b = xmlesc.Attr(b, "jid", r.To)
			b = xmlesc.Attr(b, "node", n.Name)
			if n.Config.Title != "" {
				b = xmlesc.Attr(b, "name", n.Config.Title)
			}
			b = append(b, "/>"...)
		}
	} else {
		n := s.node(r.To, node)
		if n == nil || s.canRead(n, who) != nil {
			s.mu.RUnlock()
			reply(r.error(errItemNotFound.with("no such node")))
			return
		}
		for _, it := range n.Items {
			b = append(b, "<item"...)
			b = xmlesc.Attr(b, "jid", r.To)
			b = xmlesc.Attr(b, "name", it.ID)
			b = append(b, "/>"...)
		}
	}
	s.mu.RUnlock()
	reply(r.result(append(b, "</query>"...)))
}
