package pubsub

import (
	"slices"
	"strings"

	"github.com/geohub/geohub/internal/xmlesc"
)

// event is a notification about a node, sent once the change is durable.
// Recipients are worked out when it is sent.
type event struct {
	n    *Node
	body []byte // the contents of <event/>
	only string // send to this JID only (the last item for a new subscriber)
}

// itemEvent is the notification of a published item. s.mu is held.
func (s *Service) itemEvent(n *Node, it *Item) event {
	b := []byte("<items")
	b = xmlesc.Attr(b, "node", n.Name)
	b = append(b, "><item"...)
	b = xmlesc.Attr(b, "id", it.ID)
	if strings.IndexByte(n.Service, '@') < 0 {
		b = xmlesc.Attr(b, "publisher", it.Publisher)
	}
	if n.Config.DeliverPayloads {
		b = append(b, '>')
		b = append(b, it.Payload...)
		b = append(b, "</item></items>"...)
	} else {
		b = append(b, "/></items>"...)
	}
	return event{n: n, body: b}
}

// nodeEvent is any other notification (retract, purge, delete).
func (s *Service) nodeEvent(n *Node, body []byte) event { return event{n: n, body: body} }

// send delivers the notification: to every subscriber and, for a PEP node,
// to every available resource that receives the owner's presence and asked
// for <node>+notify (XEP-0163 §4). A bare JID subscription is skipped when
// one of its resources is already a recipient, so that no resource gets the
// same event twice.
func (ev event) send(s *Service) {
	if ev.n == nil {
		return
	}
	var to []string
	if ev.only != "" {
		to = []string{ev.only}
	} else {
		if strings.IndexByte(ev.n.Service, '@') >= 0 {
			to = s.dir.Interested(ev.n.Service, ev.n.Name+"+notify")
		}
		s.mu.RLock()
		for j := range ev.n.Subs {
			to = append(to, j)
		}
		s.mu.RUnlock()
		to = dedupe(to)
	}
	head := []byte("<message type='headline'")
	head = xmlesc.Attr(head, "from", ev.n.Service)
	for _, j := range to {
		b := make([]byte, 0, len(head)+len(ev.body)+128)
		b = append(b, head...)
		b = xmlesc.Attr(b, "to", j)
		b = xmlesc.Attr(b, "id", s.stanzaID())
		b = append(b, "><event xmlns='"+NSEvent+"'>"...)
		b = append(b, ev.body...)
		b = append(b, "</event></message>"...)
		s.dir.Deliver(j, b)
	}
}

// dedupe sorts JIDs, drops repeats, and drops a bare JID when one of its
// full JIDs is there.
func dedupe(jids []string) []string {
	slices.Sort(jids)
	jids = slices.Compact(jids)
	full := map[string]bool{}
	for _, j := range jids {
		if i := strings.IndexByte(j, '/'); i >= 0 {
			full[j[:i]] = true
		}
	}
	out := jids[:0]
	for _, j := range jids {
		if strings.IndexByte(j, '/') < 0 && full[j] {
			continue
		}
		out = append(out, j)
	}
	return out
}

// Available sends a newly available resource the last items it should see
// (XEP-0163 §4.3.4, XEP-0060 send_last_published_item on_sub_and_presence):
// from the PEP nodes of owners (its own account and the accounts whose
// presence it receives) whose notifications it asked for with wants, and
// from the nodes its account subscribes to.
func (s *Service) Available(full string, owners []string, wants func(feature string) bool) {
	bare, _, _ := strings.Cut(full, "/")
	var evs []event
	s.mu.RLock()
	for _, n := range s.nodes[s.cfg.Host] {
		it := n.last()
		_, full1 := n.Subs[full]
		_, bare1 := n.Subs[bare]
		if it != nil && (full1 || bare1) && n.Config.SendLastPublishedItem == SendLastOnSubAndPresence {
			ev := s.itemEvent(n, it)
			ev.only = full
			evs = append(evs, ev)
		}
	}
	for _, o := range owners {
		for _, n := range s.nodes[o] {
			it := n.last()
			if it == nil || n.Config.SendLastPublishedItem != SendLastOnSubAndPresence || !wants(n.Name+"+notify") {
				continue
			}
			if s.canRead(n, bare) != nil {
				continue
			}
			ev := s.itemEvent(n, it)
			ev.only = full
			evs = append(evs, ev)
		}
	}
	s.mu.RUnlock()
	for _, ev := range evs {
		ev.send(s)
	}
}
