package pubsub

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
	"mellium.im/xmpp/jid"
)

// Bounds on subscriptions: per node on the service, per PEP node (whose
// owner may be any device), and per account on one node (full JIDs come and
// go with resources).
const (
	maxSubscriptions    = 100_000
	maxPEPSubscriptions = 1000
	maxSubsPerAccount   = 10
)

// subscriptionRoom reports why n cannot take another subscription for j,
// or nil. s.mu is held.
func subscriptionRoom(n *Node, j string) *Error {
	limit := maxSubscriptions
	if strings.IndexByte(n.Service, '@') >= 0 {
		limit = maxPEPSubscriptions
	}
	if len(n.Subs) >= limit {
		return errTooManySubscribed.with("the node has as many subscriptions as it may")
	}
	bare, _, _ := strings.Cut(j, "/")
	count := 0
	for k := range n.Subs {
		if k == bare || strings.HasPrefix(k, bare+"/") {
			count++
		}
	}
	if count >= maxSubsPerAccount {
		return errTooManySubscribed.with("this account has as many subscriptions to the node as it may")
	}
	return nil
}

// normalizeJID parses a JID attribute.
func normalizeJID(s string) (string, bool) {
	j, err := jid.Parse(s)
	if err != nil {
		return "", false
	}
	return j.String(), true
}

// subscribe handles <subscribe/> (XEP-0060 §6.1).
func (s *Service) subscribe(r *Request, ps *pubsubEl, reply func([]byte)) *Error {
	name := ps.Subscribe.Node
	if name == "" {
		return &errNodeIDRequired
	}
	j, ok := normalizeJID(ps.Subscribe.JID)
	who := r.fromBare()
	if !ok || (j != who && j != r.From) {
		return errInvalidJID.with("subscribe your own bare or full JID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node(r.To, name)
	if n == nil {
		return errItemNotFound.with("no such node")
	}
	if e := s.canRead(n, who); e != nil {
		return e
	}
	sub := n.Subs[j]
	isNew := sub == nil
	if isNew {
		if e := subscriptionRoom(n, j); e != nil {
			return e
		}
		sub = &Subscription{JID: j, SubID: randomID(), Since: time.Now().UTC()}
		n.Subs[j] = sub
	}
	var last event
	if it := n.last(); it != nil && n.Config.SendLastPublishedItem != SendLastNever {
		last = s.itemEvent(n, it)
		last.only = j
	}
	answer := appendSubscription([]byte("<pubsub xmlns='"+NS+"'>"), n.Name, sub)
	answer = append(answer, "</pubsub>"...)
	done := func(err error) {
		s.committed(r, n.Name, reply, err, func() {
			// The last item (XEP-0060 §6.1.7) is in the subscriber's queue
			// by the time it reads the answer.
			last.send(s, func() { reply(r.result(answer)) })
		})
	}
	if isNew {
		s.commit.Submit(saveSub(n, sub), done)
	} else {
		s.commit.Submit(nil, done) // answer in order with earlier writes
	}
	return nil
}

func appendSubscription(b []byte, node string, sub *Subscription) []byte {
	b = append(b, "<subscription"...)
	if node != "" {
		b = xmlesc.Attr(b, "node", node)
	}
	b = xmlesc.Attr(b, "jid", sub.JID)
	b = xmlesc.Attr(b, "subid", sub.SubID)
	return append(b, " subscription='subscribed'/>"...)
}

// unsubscribe handles <unsubscribe/> (XEP-0060 §6.2).
func (s *Service) unsubscribe(r *Request, ps *pubsubEl, reply func([]byte)) *Error {
	name := ps.Unsubscribe.Node
	if name == "" {
		return &errNodeIDRequired
	}
	j, ok := normalizeJID(ps.Unsubscribe.JID)
	if !ok || (j != r.fromBare() && j != r.From) {
		return errInvalidJID.with("unsubscribe your own bare or full JID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node(r.To, name)
	if n == nil {
		return errItemNotFound.with("no such node")
	}
	sub := n.Subs[j]
	if sub == nil {
		return &errNotSubscribed
	}
	if id := ps.Unsubscribe.SubID; id != "" && id != sub.SubID {
		return &Error{Type: "modify", Cond: "not-acceptable", App: "invalid-subid"}
	}
	delete(n.Subs, j)
	s.commit.Submit(deleteSub(n, j), func(err error) {
		s.committed(r, n.Name, reply, err, func() { reply(r.result(nil)) })
	})
	return nil
}

// items handles <items/> (XEP-0060 §6.5): all, the last max_items, or the
// ones asked for by id.
func (s *Service) items(r *Request, ps *pubsubEl, reply func([]byte)) *Error {
	name := ps.Items.Node
	if name == "" {
		return &errNodeIDRequired
	}
	limit := 0
	if m := ps.Items.MaxItems; m != "" {
		v, err := strconv.Atoi(m)
		if err != nil || v < 1 {
			return errBadRequest.with("max_items must be a positive number")
		}
		limit = v
	}
	s.mu.RLock()
	n := s.node(r.To, name)
	if n == nil {
		s.mu.RUnlock()
		return errItemNotFound.with("no such node")
	}
	if e := s.canRead(n, r.fromBare()); e != nil {
		s.mu.RUnlock()
		return e
	}
	var chosen []*Item
	if len(ps.Items.Items) > 0 {
		for _, want := range ps.Items.Items {
			if _, it := n.item(want.ID); it != nil {
				chosen = append(chosen, it)
			}
		}
	} else {
		chosen = n.Items
		if limit > 0 && len(chosen) > limit {
			chosen = chosen[len(chosen)-limit:]
		}
	}
	b := []byte("<pubsub xmlns='" + NS + "'><items")
	b = xmlesc.Attr(b, "node", n.Name)
	b = append(b, '>')
	pep := r.pep()
	for _, it := range chosen {
		b = append(b, "<item"...)
		b = xmlesc.Attr(b, "id", it.ID)
		if !pep {
			b = xmlesc.Attr(b, "publisher", it.Publisher)
		}
		b = append(b, '>')
		b = append(b, it.Payload...)
		b = append(b, "</item>"...)
	}
	s.mu.RUnlock()
	reply(r.result(append(b, "</items></pubsub>"...)))
	return nil
}

// ownSubscriptions lists the requester's subscriptions on this service
// (XEP-0060 §5.6).
func (s *Service) ownSubscriptions(r *Request, ps *pubsubEl, reply func([]byte)) *Error {
	who := r.fromBare()
	b := []byte("<pubsub xmlns='" + NS + "'><subscriptions>")
	s.mu.RLock()
	for _, n := range s.sortedNodes(r.To) {
		if ps.Subscriptions.Node != "" && n.Name != ps.Subscriptions.Node {
			continue
		}
		for _, j := range sortedKeys(n.Subs) {
			if j == who || strings.HasPrefix(j, who+"/") {
				b = appendSubscription(b, n.Name, n.Subs[j])
			}
		}
	}
	s.mu.RUnlock()
	reply(r.result(append(b, "</subscriptions></pubsub>"...)))
	return nil
}

// ownAffiliations lists the requester's affiliations on this service
// (XEP-0060 §5.7).
func (s *Service) ownAffiliations(r *Request, ps *pubsubEl, reply func([]byte)) *Error {
	who := r.fromBare()
	b := []byte("<pubsub xmlns='" + NS + "'><affiliations>")
	s.mu.RLock()
	for _, n := range s.sortedNodes(r.To) {
		if ps.Affiliations.Node != "" && n.Name != ps.Affiliations.Node {
			continue
		}
		if a := n.affiliation(who); a != None || who == n.Service {
			if who == n.Service {
				a = Owner
			}
			b = append(b, "<affiliation"...)
			b = xmlesc.Attr(b, "node", n.Name)
			b = append(b, " affiliation='"+string(a)+"'/>"...)
		}
	}
	s.mu.RUnlock()
	reply(r.result(append(b, "</affiliations></pubsub>"...)))
	return nil
}

// sortedNodes returns a service's nodes by name. s.mu is held.
func (s *Service) sortedNodes(service string) []*Node {
	var out []*Node
	for _, name := range sortedKeys(s.nodes[service]) {
		out = append(out, s.nodes[service][name])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
