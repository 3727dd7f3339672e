package pubsub

import (
	"strings"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/tidwall/buntdb"
)

// ownedNode returns the node if the requester manages it (owners; admins
// on the service). s.mu is held.
func (s *Service) ownedNode(r *Request, name string) (*Node, *Error) {
	if name == "" {
		return nil, &errNodeIDRequired
	}
	n := s.node(r.To, name)
	if n == nil {
		return nil, errItemNotFound.with("no such node")
	}
	if !s.manages(n, r.fromBare()) {
		return nil, errForbidden.with("only an owner may do this")
	}
	return n, nil
}

// configure handles node configuration (XEP-0060 §8.2): get returns the
// form, set applies a submitted one.
func (s *Service) configure(r *Request, ps *pubsubEl, reply func([]byte)) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, e := s.ownedNode(r, ps.Configure.Node)
	if e != nil {
		return e
	}
	if !r.Set {
		b := []byte("<pubsub xmlns='" + NSOwner + "'><configure")
		b = xmlesc.Attr(b, "node", n.Name)
		b = append(b, '>')
		b = n.Config.appendForm(b, "form", formTypeNodeConfig)
		reply(r.result(append(b, "</configure></pubsub>"...)))
		return nil
	}
	f := ps.Configure.Form
	if f == nil {
		return errBadRequest.with("a configuration form is required")
	}
	if f.Type == "cancel" {
		reply(r.result(nil))
		return nil
	}
	cfg := n.Config
	if err := cfg.apply(f, formTypeNodeConfig, maxItemsOf(n.Service)); err != nil {
		return configError(err)
	}
	n.Config = cfg
	write := saveNode(n)
	// A stricter access model drops the subscriptions it no longer allows.
	for j := range n.Subs {
		bare, _, _ := strings.Cut(j, "/")
		if s.canRead(n, bare) != nil {
			delete(n.Subs, j)
			write = both(write, deleteSub(n, j))
		}
	}
	if over := len(n.Items) - cfg.MaxItems; over > 0 {
		write = both(write, deleteItems(n, n.Items[:over]))
		n.Items = append(n.Items[:0:0], n.Items[over:]...)
	}
	s.commit.Submit(write, func(err error) {
		s.committed(r, n.Name, reply, err, func() { reply(r.result(nil)) })
	})
	return nil
}

// defaults returns the default node configuration (XEP-0060 §8.3).
func (s *Service) defaults(r *Request, reply func([]byte)) *Error {
	cfg := ServiceDefaults()
	if r.pep() {
		cfg = PEPDefaults()
	}
	b := []byte("<pubsub xmlns='" + NSOwner + "'><default>")
	b = cfg.appendForm(b, "form", formTypeNodeConfig)
	reply(r.result(append(b, "</default></pubsub>"...)))
	return nil
}

// deleteNode deletes a node; its subscribers hear of it (XEP-0060 §8.4).
func (s *Service) deleteNode(r *Request, name string, reply func([]byte)) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, e := s.ownedNode(r, name)
	if e != nil {
		return e
	}
	ev := s.dropNode(n)
	s.commit.Submit(deleteNode(n.Service, n.Name), func(err error) {
		s.committed(r, n.Name, reply, err, func() {
			ev.send(s, func() { reply(r.result(nil)) })
		})
	})
	return nil
}

// dropNode takes n out of memory and returns the event telling its
// subscribers, to send once the deletion is durable. s.mu is held.
func (s *Service) dropNode(n *Node) event {
	var ev event
	if n.Config.NotifyDelete {
		b := []byte("<delete")
		b = xmlesc.Attr(b, "node", n.Name)
		ev = s.nodeEvent(n, append(b, "/>"...))
	}
	delete(s.nodes[n.Service], n.Name)
	return ev
}

// purge removes every item of a node (XEP-0060 §8.5).
func (s *Service) purge(r *Request, name string, reply func([]byte)) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, e := s.ownedNode(r, name)
	if e != nil {
		return e
	}
	gone := n.Items
	n.Items = nil
	b := []byte("<purge")
	b = xmlesc.Attr(b, "node", n.Name)
	ev := s.nodeEvent(n, append(b, "/>"...))
	s.commit.Submit(deleteItems(n, gone), func(err error) {
		s.committed(r, n.Name, reply, err, func() {
			ev.send(s, func() { reply(r.result(nil)) })
		})
	})
	return nil
}

// manageSubscriptions lists or changes a node's subscriptions (XEP-0060
// §8.8).
func (s *Service) manageSubscriptions(r *Request, ps *pubsubEl, reply func([]byte)) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, e := s.ownedNode(r, ps.Subscriptions.Node)
	if e != nil {
		return e
	}
	if !r.Set {
		b := []byte("<pubsub xmlns='" + NSOwner + "'><subscriptions")
		b = xmlesc.Attr(b, "node", n.Name)
		b = append(b, '>')
		for _, j := range sortedKeys(n.Subs) {
			b = appendSubscription(b, "", n.Subs[j])
		}
		reply(r.result(append(b, "</subscriptions></pubsub>"...)))
		return nil
	}
	var writes []store.Write
	for _, c := range ps.Subscriptions.List {
		j, ok := normalizeJID(c.JID)
		if !ok {
			return errBadRequest.with("invalid jid " + c.JID)
		}
		switch c.Subscription {
		case "none":
			if n.Subs[j] != nil {
				delete(n.Subs, j)
				writes = append(writes, deleteSub(n, j))
			}
		case "subscribed":
			if n.Subs[j] == nil {
				// An owner may subscribe others only to what they may read.
				bare, _, _ := strings.Cut(j, "/")
				if e := s.canRead(n, bare); e != nil {
					return errNotAcceptable.with(j + " may not read this node")
				}
				if e := subscriptionRoom(n, j); e != nil {
					return e
				}
				sub := &Subscription{JID: j, SubID: randomID(), Since: time.Now().UTC()}
				n.Subs[j] = sub
				writes = append(writes, saveSub(n, sub))
			}
		default:
			return errBadRequest.with("subscription must be none or subscribed")
		}
	}
	s.commit.Submit(all(writes), func(err error) {
		s.committed(r, n.Name, reply, err, func() { reply(r.result(nil)) })
	})
	return nil
}

// manageAffiliations lists or changes a node's affiliations (XEP-0060
// §8.9). Outcasts lose their subscriptions; the last owner stays.
func (s *Service) manageAffiliations(r *Request, ps *pubsubEl, reply func([]byte)) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, e := s.ownedNode(r, ps.Affiliations.Node)
	if e != nil {
		return e
	}
	if !r.Set {
		b := []byte("<pubsub xmlns='" + NSOwner + "'><affiliations")
		b = xmlesc.Attr(b, "node", n.Name)
		b = append(b, '>')
		for _, j := range sortedKeys(n.Affs) {
			b = append(b, "<affiliation"...)
			b = xmlesc.Attr(b, "jid", j)
			b = append(b, " affiliation='"+string(n.Affs[j])+"'/>"...)
		}
		reply(r.result(append(b, "</affiliations></pubsub>"...)))
		return nil
	}
	affs := map[string]Affiliation{}
	for k, v := range n.Affs {
		affs[k] = v
	}
	for _, c := range ps.Affiliations.List {
		j, ok := normalizeJID(c.JID)
		if !ok || strings.IndexByte(j, '/') >= 0 {
			return errBadRequest.with("affiliations are for bare JIDs: " + c.JID)
		}
		a, ok := parseAffiliation(c.Affiliation)
		if !ok {
			return errBadRequest.with("unknown affiliation " + c.Affiliation)
		}
		if a == None {
			delete(affs, j)
		} else {
			affs[j] = a
		}
	}
	owners := 0
	for _, a := range affs {
		if a == Owner {
			owners++
		}
	}
	if owners == 0 && strings.IndexByte(n.Service, '@') < 0 {
		return &Error{Type: "modify", Cond: "not-acceptable", Text: "a node keeps at least one owner"}
	}
	n.Affs = affs
	writes := []store.Write{saveNode(n)}
	for j := range n.Subs {
		bare, _, _ := strings.Cut(j, "/")
		if s.canRead(n, bare) != nil {
			// Outcast, or off the whitelist: the subscription goes.
			delete(n.Subs, j)
			writes = append(writes, deleteSub(n, j))
		}
	}
	s.commit.Submit(all(writes), func(err error) {
		s.committed(r, n.Name, reply, err, func() { reply(r.result(nil)) })
	})
	return nil
}

// all runs writes in order.
func all(writes []store.Write) store.Write {
	return func(tx *buntdb.Tx) error {
		for _, w := range writes {
			if err := w(tx); err != nil {
				return err
			}
		}
		return nil
	}
}

// ForgetAccount removes what belongs to a deleted account: its PEP nodes,
// its subscriptions and its affiliations on the service.
func (s *Service) ForgetAccount(bare string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var writes []store.Write
	for name := range s.nodes[bare] {
		writes = append(writes, deleteNode(bare, name))
	}
	delete(s.nodes, bare)
	for _, nodes := range s.nodes {
		for _, n := range nodes {
			for j := range n.Subs {
				if j == bare || strings.HasPrefix(j, bare+"/") {
					delete(n.Subs, j)
					writes = append(writes, deleteSub(n, j))
				}
			}
			if _, ok := n.Affs[bare]; ok {
				delete(n.Affs, bare)
				writes = append(writes, saveNode(n))
			}
		}
	}
	if len(writes) > 0 {
		s.commit.Submit(all(writes), func(err error) {
			if err != nil {
				s.log.Error("forgetting an account's pubsub data", "jid", bare, "err", err)
			}
		})
	}
}

// EnsureNode creates a node of the service, owned by the service itself,
// with cfg, unless it exists; it reports whether it created it. It is for
// nodes the hub keeps (alerts).
func (s *Service) EnsureNode(name string, cfg NodeConfig) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.node(s.cfg.Host, name) != nil {
		return false
	}
	n := &Node{Service: s.cfg.Host, Name: name, Config: cfg, Created: time.Now().UTC(), Creator: s.cfg.Host,
		Affs: map[string]Affiliation{}, Subs: map[string]*Subscription{}}
	s.addNode(n)
	s.commit.Submit(saveNode(n), nil)
	return true
}

// RemoveNode deletes a node the service keeps, telling its subscribers.
func (s *Service) RemoveNode(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node(s.cfg.Host, name)
	if n == nil {
		return
	}
	ev := s.dropNode(n)
	s.commit.Submit(deleteNode(n.Service, n.Name), func(err error) {
		if err != nil {
			s.log.Error("removing a node", "node", name, "err", err)
			s.reloadNode(s.cfg.Host, name)
			return
		}
		ev.send(s, nil)
	})
}

// SetMembers makes members (bare JIDs) the members of every service node
// named prefix or prefix/...: whom a whitelist node the hub keeps lets in.
// Former members lose their membership and subscriptions.
func (s *Service) SetMembers(prefix string, members []string) {
	want := map[string]bool{}
	for _, m := range members {
		want[m] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var writes []store.Write
	for name, n := range s.nodes[s.cfg.Host] {
		if name != prefix && !strings.HasPrefix(name, prefix+"/") {
			continue
		}
		changed := false
		for j, a := range n.Affs {
			if a == Member && !want[j] {
				delete(n.Affs, j)
				changed = true
			}
		}
		for j := range want {
			if n.affiliation(j) == None {
				n.Affs[j] = Member
				changed = true
			}
		}
		if !changed {
			continue
		}
		writes = append(writes, saveNode(n))
		for j := range n.Subs {
			bare, _, _ := strings.Cut(j, "/")
			if s.canRead(n, bare) != nil {
				delete(n.Subs, j)
				writes = append(writes, deleteSub(n, j))
			}
		}
	}
	if len(writes) > 0 {
		s.commit.Submit(all(writes), nil)
	}
}

// PublishAs publishes an item as the service itself on one of its nodes,
// which must exist: Publish without waiting, its failure to store logged.
// Subscribers are notified once it is durable.
func (s *Service) PublishAs(name, itemID string, payload []byte) error {
	req := PublishRequest{Publisher: s.cfg.Host, Service: s.cfg.Host, Node: name, ItemID: itemID, Payload: payload}
	if e := s.publish(&req, func(_ PublishResult, e *Error) {
		if e != nil {
			s.log.Error("publishing as the service", "node", name, "err", e)
		}
	}); e != nil {
		return e
	}
	return nil
}
