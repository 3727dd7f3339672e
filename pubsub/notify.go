package pubsub

import (
	"slices"
	"strings"

	"github.com/geohub/geohub/internal/xmlesc"
)

// event is a notification about a node, sent once the change is durable.
// Its recipients are worked out on the delivery goroutine, when its turn
// comes: a subscriber who joined after the change was committed but before
// then gets it too (and perhaps also as the last item); one who left, was
// blocked or lost access by then does not. Whether each may read the node is
// checked at delivery.
type event struct {
	n      *Node
	body   []byte // the contents of <event/>
	only   string // send to this JID only (the last item for a new subscriber)
	latest string // the state an item event carries: see Directory.Deliver
	then   func() // runs once the event is handed to every recipient
}

// itemEvent is the notification of a published item. s.mu is held.
func (s *Service) itemEvent(n *Node, it *Item) event {
	b := make([]byte, 0, 96+len(n.Name)+len(it.ID)+len(it.Publisher)+len(it.Payload))
	b = append(b, "<items"...)
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
	ev := event{n: n, body: b}
	// Items of accounts are state: a subscriber that is behind needs each
	// publisher's latest. The service's own items (alerts) are records,
	// each of which must arrive.
	if it.Publisher != s.cfg.Host {
		ev.latest = n.Service + "\x00" + n.Name + "\x00" + it.Publisher
	}
	return ev
}

// nodeEvent is any other notification (retract, purge, delete).
func (s *Service) nodeEvent(n *Node, body []byte) event { return event{n: n, body: body} }

// send queues the notification for the delivery goroutine, which works out
// its recipients and writes to them: neither must hold up the committer's
// writer, which calls this once the change is durable. When the queue is
// full the notification is dropped and counted. then, when not nil, runs
// after the notification is in every recipient's queue: the answer to the
// request goes there, so that whatever the requester does next reaches the
// others after the notification (even without a notification: answers keep
// their order). A dropped notification's then runs at once. s.mu must not
// be held.
func (ev event) send(s *Service, then func()) {
	if ev.n == nil && then == nil {
		return
	}
	ev.then = then
	select {
	case s.deliveries <- ev:
	default:
		if ev.n != nil {
			s.dropped.Add(1)
		}
		if then != nil {
			then()
		}
	}
}

// deliver runs on the delivery goroutine, in the order events were sent:
// the notifications of a node go out in commit order.
func (s *Service) deliver() {
	defer close(s.delivered)
	for ev := range s.deliveries {
		if ev.n != nil {
			s.deliverEvent(ev)
		}
		if ev.then != nil {
			ev.then()
		}
	}
}

func (s *Service) deliverEvent(ev event) {
	head := []byte("<message type='headline'")
	head = xmlesc.Attr(head, "from", ev.n.Service)
	for _, t := range s.readers(ev.n, s.recipients(ev)) {
		b := make([]byte, 0, len(head)+len(ev.body)+128)
		b = append(b, head...)
		b = xmlesc.Attr(b, "to", t.address)
		b = xmlesc.Attr(b, "id", s.stanzaID())
		b = append(b, "><event xmlns='"+NSEvent+"'>"...)
		b = append(b, ev.body...)
		b = append(b, "</event></message>"...)
		s.dir.Deliver(t.route, b, ev.latest)
	}
}

// target is one delivery: the resource it goes to, and the address it
// carries (the bare JID, for a subscription made with one).
type target struct{ route, address string }

// recipients are the deliveries of an event: every subscription (a bare
// one reaching each of the account's available resources) and, for a PEP
// node, every available resource that receives the owner's presence and
// asked for <node>+notify (XEP-0163 §4). Every resource gets an event once.
func (s *Service) recipients(ev event) []target {
	var to []target
	if ev.only != "" {
		to = []target{{ev.only, ev.only}}
	} else {
		if strings.IndexByte(ev.n.Service, '@') >= 0 {
			for _, j := range s.dir.Interested(ev.n.Service, ev.n.Name+"+notify") {
				to = append(to, target{j, j})
			}
		}
		s.mu.RLock()
		subs := make([]string, 0, len(ev.n.Subs))
		for j := range ev.n.Subs {
			subs = append(subs, j)
		}
		s.mu.RUnlock()
		for _, j := range subs {
			if strings.IndexByte(j, '/') >= 0 {
				to = append(to, target{j, j})
				continue
			}
			for _, r := range s.dir.Resources(j) {
				to = append(to, target{r, j})
			}
		}
	}
	// One delivery per resource: the first found is kept. A delivery to a
	// bare JID (an account at another server, whose server reaches its
	// resources) covers those to its full JIDs.
	slices.SortStableFunc(to, func(a, b target) int {
		return strings.Compare(a.route, b.route)
	})
	to = slices.CompactFunc(to, func(a, b target) bool { return a.route == b.route })
	var bares map[string]bool
	for _, t := range to {
		if strings.IndexByte(t.route, '/') < 0 {
			if bares == nil {
				bares = map[string]bool{}
			}
			bares[t.route] = true
		}
	}
	if bares == nil {
		return to
	}
	return slices.DeleteFunc(to, func(t target) bool {
		bare, _, full := strings.Cut(t.route, "/")
		return full && bares[bare]
	})
}

// readers are the targets that may read node n now: recipients come from
// the subscriptions and presence, and access may have changed since.
func (s *Service) readers(n *Node, targets []target) []target {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := targets[:0]
	for _, t := range targets {
		bare, _, _ := strings.Cut(t.route, "/")
		if s.canRead(n, bare) == nil {
			out = append(out, t)
		}
	}
	return out
}

// Available sends a newly available resource the last items it should see
// (XEP-0163 §4.3.4, XEP-0060 send_last_published_item on_sub_and_presence):
// from the nodes its account subscribes to, and as PEPAvailable does.
func (s *Service) Available(full string, owners []string, wants func(feature string) bool) {
	bare, _, _ := strings.Cut(full, "/")
	var evs []event
	s.mu.RLock()
	for _, n := range s.nodes[s.cfg.Host] {
		it := n.last()
		_, full1 := n.Subs[full]
		_, bare1 := n.Subs[bare]
		if it != nil && (full1 || bare1) && n.Config.SendLastPublishedItem == SendLastOnSubAndPresence && s.canRead(n, bare) == nil {
			ev := s.itemEvent(n, it)
			ev.only = full
			evs = append(evs, ev)
		}
	}
	evs = s.lastPEP(evs, full, owners, wants)
	s.mu.RUnlock()
	for _, ev := range evs {
		ev.send(s, nil)
	}
}

// PEPAvailable sends a resource the last items of the PEP nodes of owners
// (accounts whose presence it receives) whose notifications it asked for
// with wants: for a resource whose presence an owner just learnt.
func (s *Service) PEPAvailable(full string, owners []string, wants func(feature string) bool) {
	s.mu.RLock()
	evs := s.lastPEP(nil, full, owners, wants)
	s.mu.RUnlock()
	for _, ev := range evs {
		ev.send(s, nil)
	}
}

// lastPEP appends the events PEPAvailable sends. s.mu is held for reading.
func (s *Service) lastPEP(evs []event, full string, owners []string, wants func(feature string) bool) []event {
	bare, _, _ := strings.Cut(full, "/")
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
	return evs
}
