package pubsub

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/tidwall/buntdb"
)

// maxPayload bounds one item's payload; the stanza limit bounds it anyway,
// this keeps what is stored per item small.
const maxPayload = 64 << 10

// payloadOf returns the one element inside an item, and its namespace. The
// payload is stored and sent as it came, so it must declare its own
// namespaces.
func payloadOf(it itemEl) (*xmlnode.Node, *Error) {
	if it.node == nil || len(it.node.Children) == 0 && !it.node.HasText() {
		return nil, nil
	}
	if len(it.node.Children) != 1 || it.node.HasText() {
		return nil, errInvalidPayload.with("an item carries exactly one payload element")
	}
	p := it.node.Children[0]
	if len(p.Raw) > maxPayload {
		return nil, &errPayloadTooBig
	}
	// It is stored and sent on its own: a prefix or default namespace
	// declared outside it would break every recipient's stream.
	if !p.SelfContained() {
		return nil, errInvalidPayload.with("the payload must declare its namespaces itself")
	}
	return p, nil
}

// PublishRequest is one item to publish: what Service.Publish takes from
// in-process callers (the hub's PublishPEP for the MQTT bridge) and what
// the XMPP adapter (HandleIQ) makes of a <publish/>.
type PublishRequest struct {
	Publisher string // the publisher's bare JID; Service itself for the service's own items
	Service   string // Host, or an account's bare JID for its PEP service (XEP-0163)
	Node      string
	ItemID    string // empty: the service picks one
	Payload   []byte // one element that declares its own namespaces

	item    *itemEl // the adapter's item, read with its request
	options *form   // the adapter's publish-options
}

// PublishResult is a publish that is durable and whose notifications are
// queued.
type PublishResult struct {
	ItemID string
}

// Publish stores req's item and notifies the node's subscribers; it returns
// once the item is durable, or when ctx ends first (the publish may still
// complete). A refusal is an *Error (errors.As), comparable with errors.Is
// to the Err variables.
func (s *Service) Publish(ctx context.Context, req PublishRequest) (PublishResult, error) {
	type outcome struct {
		res PublishResult
		err error
	}
	ch := make(chan outcome, 1)
	s.PublishAsync(req, func(res PublishResult, err error) { ch <- outcome{res, err} })
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return PublishResult{}, ctx.Err()
	}
}

// PublishAsync is Publish for callers that must not wait, such as a
// session's read loop: done is called once, on the caller's goroutine for a
// refusal, else on the notification goroutine once the item is durable
// (on the committer's writer when the notification was dropped: see
// event.send); it must not block. The error is nil or an *Error.
func (s *Service) PublishAsync(req PublishRequest, done func(PublishResult, error)) {
	if e := s.publish(&req, func(res PublishResult, e *Error) {
		if e != nil {
			done(res, e)
			return
		}
		done(res, nil)
	}); e != nil {
		done(PublishResult{}, e)
	}
}

// publishIQ is the XMPP adapter over publish (XEP-0060 §7.1, XEP-0163 §3):
// it reads the <publish/> and writes the reply.
func (s *Service) publishIQ(r *Request, ps *pubsubEl, reply func([]byte)) *Error {
	if len(ps.Publish.Items) > 1 && ps.Publish.Node != "" { // no node: publish says so first
		return errBadRequest.with("publish one item at a time")
	}
	req := PublishRequest{Publisher: r.fromBare(), Service: r.To, Node: ps.Publish.Node, item: &itemEl{}}
	if len(ps.Publish.Items) == 1 {
		req.item = &ps.Publish.Items[0]
	}
	if ps.PublishOptions != nil {
		req.options = ps.PublishOptions.Form
	}
	return s.publish(&req, func(res PublishResult, e *Error) {
		if e != nil {
			reply(r.error(e))
			return
		}
		b := []byte("<pubsub xmlns='" + NS + "'><publish")
		b = xmlesc.Attr(b, "node", req.Node)
		b = append(b, "><item"...)
		b = xmlesc.Attr(b, "id", res.ItemID)
		reply(r.result(append(b, "/></publish></pubsub>"...)))
	})
}

// payload reads the request's payload: the adapter's item, or Payload.
func (req *PublishRequest) payload() (*xmlnode.Node, *Error) {
	if req.item != nil {
		return payloadOf(*req.item)
	}
	if len(req.Payload) == 0 {
		return nil, nil
	}
	if len(req.Payload) > maxPayload {
		return nil, &errPayloadTooBig
	}
	p, err := xmlnode.Parse(req.Payload, "")
	if err != nil {
		return nil, errInvalidPayload.with("the payload is not one well-formed element")
	}
	if p.Space == "" {
		return nil, errInvalidPayload.with("the payload must declare its namespaces itself")
	}
	return p, nil
}

// publish authorizes, checks and stages one item. It returns a refusal, or
// nil and calls done once the item is durable (with errInternal if it could
// not be stored).
func (s *Service) publish(req *PublishRequest, done func(PublishResult, *Error)) *Error {
	name := req.Node
	if name == "" {
		return &errNodeIDRequired
	}
	who, service := req.Publisher, req.Service
	pep := strings.IndexByte(service, '@') >= 0
	if pep && who != service {
		return errForbidden.with("only the account itself publishes to its PEP nodes")
	}
	// Authorize before looking at the payload, so that an unauthorized
	// publisher learns nothing else.
	s.mu.RLock()
	n := s.node(service, name)
	var e *Error
	switch {
	case n != nil:
		e = s.canPublish(n, who)
	case !pep:
		e = errItemNotFound.with("no such node")
	}
	s.mu.RUnlock()
	if e != nil {
		return e
	}
	payload, perr := req.payload()
	if perr != nil {
		return perr
	}
	if payload == nil {
		return errPayloadRequired.with("the item has no payload")
	}
	id := req.ItemID
	if req.item != nil {
		id = req.item.ID
	}
	fix := s.handlers[payload.Space] != nil
	if fix && s.repeated(service, name, id, who, payload.Raw, done) {
		return nil
	}
	now := time.Now().UTC()
	var extra store.Write
	var extraDone func(error)
	if h := s.handlers[payload.Space]; h != nil {
		source := "pubsub/" + name
		if pep {
			source = "pep"
		}
		w, hdone, err := h(who, source, payload, now)
		var refusal *Error
		switch {
		case errors.As(err, &refusal):
			return refusal
		case err != nil:
			return errInvalidPayload.with(err.Error())
		}
		extra, extraDone = w, hdone
	}
	if id == "" {
		id = randomID()
	}

	var created store.Write
	s.mu.Lock()
	n = s.node(service, name)
	if n == nil {
		if !pep {
			s.mu.Unlock()
			return errItemNotFound.with("no such node")
		}
		// XEP-0163 §3: publishing to a missing PEP node creates it.
		if len(s.nodes[service]) >= maxPEPNodes {
			s.mu.Unlock()
			return errTooManyNodes.with("this account has as many PEP nodes as it may")
		}
		n = &Node{Service: service, Name: name, Config: PEPDefaults(), Created: now, Creator: who,
			Affs: map[string]Affiliation{who: Owner}, Subs: map[string]*Subscription{}}
		// The node takes the options, as create-and-configure would.
		if req.options != nil {
			if err := n.Config.apply(req.options, formTypePublishOptions, maxItemsOf(n.Service)); err != nil {
				s.mu.Unlock()
				return configError(err)
			}
		}
		s.addNode(n)
		created = saveNode(n)
	} else {
		if e := s.canPublish(n, who); e != nil {
			s.mu.Unlock()
			return e
		}
		if fix && n.repeat(id, who, payload.Raw) {
			// The same publish, sent again while this one was checked.
			s.mu.Unlock()
			if extraDone != nil {
				extraDone(errRepeat)
			}
			s.repeatDone(id, done)
			return nil
		}
		if req.options != nil {
			if err := n.Config.matches(req.options, maxItemsOf(n.Service)); err != nil {
				s.mu.Unlock()
				return preconditionError(err)
			}
		}
	}
	item := &Item{ID: id, Publisher: who, Time: now, Payload: string(payload.Raw), seq: s.seq.Add(1)}
	if pep && s.pepBytesAfter(n, item) > maxPEPBytes {
		if created != nil {
			delete(s.nodes[service], name) // never committed
		}
		s.mu.Unlock()
		return errPEPFull.with("this account's PEP nodes hold as many bytes as they may (1 MiB)")
	}
	gone := n.put(item)
	if fix {
		n.remember(item)
	}
	ev := s.itemEvent(n, item)
	write := saveItem(n, item, gone)
	if created != nil {
		write = both(created, write) // the node and its first item commit together
	}
	if extra != nil {
		write = both(write, extra)
	}
	s.commit.Submit(write, func(err error) {
		if extraDone != nil {
			extraDone(err)
		}
		if err != nil {
			if !errors.Is(err, store.ErrUnwritable) { // the committer logs those
				s.log.Error("pubsub write failed", "service", service, "node", name, "err", err)
			}
			s.reloadNode(service, name)
			done(PublishResult{}, writeError(err))
			return
		}
		ev.send(s, func() { done(PublishResult{ItemID: id}, nil) })
	})
	s.mu.Unlock()
	return nil
}

// both runs two writes in order.
func both(a, b store.Write) store.Write {
	return func(tx *buntdb.Tx) error {
		if err := a(tx); err != nil {
			return err
		}
		return b(tx)
	}
}

// create handles <create/>, with an optional configuration (XEP-0060 §8.1).
func (s *Service) create(r *Request, ps *pubsubEl, reply func([]byte)) *Error {
	who := r.fromBare()
	name := ps.Create.Node
	cfg := ServiceDefaults()
	if r.pep() {
		if who != r.To {
			return errForbidden.with("only the account itself creates its PEP nodes")
		}
		if name == "" {
			return &errNodeIDRequired
		}
		cfg = PEPDefaults()
	} else if !s.mayCreate(who) {
		return errForbidden.with("only operators and admins create nodes on this service")
	}
	if ps.Configure != nil && ps.Configure.Form != nil {
		if err := cfg.apply(ps.Configure.Form, formTypeNodeConfig, maxItemsOf(r.To)); err != nil {
			return configError(err)
		}
	}
	instant := name == ""
	if instant {
		name = randomID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !r.pep() && s.isReserved(name) {
		// XEP-0060 §8.1.3: the NodeID is taken, here by the service.
		return errConflict.with("node " + name + " is reserved for the hub")
	}
	if s.node(r.To, name) != nil {
		return errConflict.with("the node exists")
	}
	if r.pep() && len(s.nodes[r.To]) >= maxPEPNodes {
		return errTooManyNodes.with("this account has as many PEP nodes as it may")
	}
	n := &Node{Service: r.To, Name: name, Config: cfg, Created: time.Now().UTC(), Creator: who,
		Affs: map[string]Affiliation{who: Owner}, Subs: map[string]*Subscription{}}
	s.addNode(n)
	s.commit.Submit(saveNode(n), func(err error) {
		s.committed(r, name, reply, err, func() {
			if !instant {
				reply(r.result(nil))
				return
			}
			b := []byte("<pubsub xmlns='" + NS + "'><create")
			b = xmlesc.Attr(b, "node", name)
			reply(r.result(append(b, "/></pubsub>"...)))
		})
	})
	return nil
}

// mayCreate says whether an account may create nodes on the service.
func (s *Service) mayCreate(who string) bool {
	local, domain, ok := cutJID(who)
	if !ok || domain != s.accounts.Domain() {
		return false
	}
	a, ok := s.accounts.Get(local)
	return ok && (a.Role.Watches() || s.cfg.DevicesCreateNodes)
}

func cutJID(bare string) (local, domain string, ok bool) {
	for i := 0; i < len(bare); i++ {
		if bare[i] == '@' {
			return bare[:i], bare[i+1:], true
		}
	}
	return "", bare, false
}

// retract handles <retract/> (XEP-0060 §7.2): the item's publisher or a
// node owner may retract it.
func (s *Service) retract(r *Request, ps *pubsubEl, reply func([]byte)) *Error {
	name := ps.Retract.Node
	if name == "" {
		return &errNodeIDRequired
	}
	if len(ps.Retract.Items) != 1 || ps.Retract.Items[0].ID == "" {
		return errItemRequired.with("retract one item by id")
	}
	id := ps.Retract.Items[0].ID
	who := r.fromBare()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node(r.To, name)
	if n == nil {
		return errItemNotFound.with("no such node")
	}
	if n.affiliation(who) == Outcast {
		return &errForbidden
	}
	i, it := n.item(id)
	if it == nil {
		return errItemNotFound.with("no such item")
	}
	if it.Publisher != who && !s.manages(n, who) {
		return errForbidden.with("only the publisher or an owner retracts an item")
	}
	n.Items = append(n.Items[:i], n.Items[i+1:]...)
	// Subscribers hear of it when the node says so or the publisher asks
	// (XEP-0060 §7.2.2.1).
	notify := ps.Retract.Notify == "true" || ps.Retract.Notify == "1" || n.Config.NotifyRetract
	var ev event
	if notify {
		b := []byte("<items")
		b = xmlesc.Attr(b, "node", n.Name)
		b = append(b, "><retract"...)
		b = xmlesc.Attr(b, "id", id)
		ev = s.nodeEvent(n, append(b, "/></items>"...))
	}
	s.commit.Submit(deleteItems(n, []*Item{it}), func(err error) {
		s.committed(r, n.Name, reply, err, func() {
			ev.send(s, func() { reply(r.result(nil)) })
		})
	})
	return nil
}
