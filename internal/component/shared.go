package component

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/pubsub"
)

// SharedConfig keeps the fences and threshold rules the same on every
// instance through a node of the upstream's own pubsub service (the
// cluster is the replication bus): each is an item, fence/<ID> or
// rule/<ID> (shared_kinds.go), and a removed one a retracted item. A
// change made on any instance (API, CLI) is published there; every
// instance, subscribed with its own domain, applies what the others
// publish. The node is whitelisted: the instances (its owners) publish and
// read it, nobody else.
//
// sent remembers each item as the node holds it, so that applying an item
// does not publish it again. A change made while the link is down is
// published when it is back; an item the node holds and this instance
// lacks is applied, and one this instance holds that the node lacks is
// published.
type SharedConfig struct {
	Service string // the upstream's pubsub service, e.g. pubsub.example.com
	Node    string
	Geo     *geoloc.Store
	Log     *slog.Logger

	shard   *Shard
	ops     chan sharedOp
	mu      sync.Mutex
	sent    map[string]string // item ID -> payload the node holds
	pending map[string]bool   // items changed here while the link was down
}

type sharedOp struct {
	item, payload string // payload empty: retract
}

// start watches the local fences and rules and starts the publishing
// goroutine.
func (sc *SharedConfig) start(s *Shard) {
	sc.shard, sc.sent, sc.pending = s, map[string]string{}, map[string]bool{}
	sc.ops = make(chan sharedOp, 1024)
	sc.Geo.WatchFences(func(c geoloc.FenceChange) { sc.changed(fenceItem(c.Fence.ID), fencePayload(c.Fence, c.Removed)) })
	sc.Geo.WatchRules(func(c geoloc.RuleChange) { sc.changed(ruleItem(c.Rule.ID), rulePayload(c.Rule, c.Removed)) })
	go sc.publish()
}

// changed takes a change made here (payload empty: removed) to the node.
func (sc *SharedConfig) changed(item, payload string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if held, ok := sc.sent[item]; ok == (payload != "") && held == payload {
		return // what the node holds: applied from it
	}
	if sc.shard.Link.Ready() != nil {
		sc.pending[item] = true
		return
	}
	if payload == "" {
		delete(sc.sent, item)
	} else {
		sc.sent[item] = payload
	}
	select {
	case sc.ops <- sharedOp{item, payload}:
	default:
		sc.pending[item] = true
		sc.Log.Warn("shared configuration: too many changes at once; sent at the next link", "item", item)
	}
}

// publish sends the changes, in order, on its own goroutine.
func (sc *SharedConfig) publish() {
	for op := range sc.ops {
		node, id := attr("node", sc.Node), attr("id", op.item)
		body := "<publish" + node + "><item" + id + ">" + op.payload + "</item></publish>"
		if op.payload == "" {
			body = "<retract" + node + " notify='true'><item" + id + "/></retract>"
		}
		if _, err := sc.call("set", "<pubsub xmlns='"+pubsub.NS+"'>"+body+"</pubsub>"); err != nil {
			sc.Log.Error("shared configuration: publishing a change", "item", op.item, "err", err)
			sc.mu.Lock()
			sc.pending[op.item] = true
			sc.mu.Unlock()
		}
	}
}

func attr(name, value string) string { return string(xmlesc.Attr(nil, name, value)) }

// call sends an IQ to the pubsub service and waits for its result.
func (sc *SharedConfig) call(typ, payload string) (*xmlnode.Node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := sc.shard
	res, err := s.reqs.call(ctx, s.Link, func(id string) []byte {
		b := append(iqHead(typ, s.Link.Domain(), sc.Service, id), '>')
		return append(append(b, payload...), "</iq>"...)
	})
	if err == nil && res.Attr("type") == "error" {
		err = iqFailed(res)
	}
	return res, err
}

// linked runs each time the instance's link comes up: make sure of the
// node and the subscription, then reconcile with what the node holds.
func (sc *SharedConfig) linked() {
	if !sc.ensureNode() {
		return
	}
	res, err := sc.call("get", "<pubsub xmlns='"+pubsub.NS+"'><items"+attr("node", sc.Node)+"/></pubsub>")
	if err != nil {
		sc.Log.Error("shared configuration: reading the node", "err", err)
		return
	}
	// What changed here while the link was down wins over the node.
	sc.mu.Lock()
	pending := sc.pending
	sc.pending = map[string]bool{}
	sc.mu.Unlock()
	held := map[string]bool{}
	if ps := res.Child(pubsub.NS, "pubsub"); ps != nil {
		if items := ps.Child(pubsub.NS, "items"); items != nil {
			for _, it := range items.Children {
				if it.Local == "item" && len(it.Children) == 1 {
					held[it.Attr("id")] = true
					if !pending[it.Attr("id")] {
						sc.apply(it.Attr("id"), it.Children[0])
					}
				}
			}
		}
	}
	for item, payload := range localItems(sc.Geo) {
		if !held[item] || pending[item] {
			delete(pending, item)
			sc.changed(item, payload)
		}
	}
	for item := range pending { // removed here meanwhile
		if held[item] {
			sc.mu.Lock()
			sc.sent[item] = "" // so that the removal goes out
			sc.mu.Unlock()
			sc.changed(item, "")
		}
	}
}

// ensureNode creates the node (the first instance to link does, and
// makes every instance an owner: only an item's publisher or an owner
// retracts it, and any instance may remove a fence) and subscribes this
// instance's domain.
func (sc *SharedConfig) ensureNode() bool {
	_, err := sc.call("set", "<pubsub xmlns='"+pubsub.NS+"'><create"+attr("node", sc.Node)+"/><configure>"+
		"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>"+pubsub.NS+"#node_config</value></field>"+
		"<field var='pubsub#access_model'><value>whitelist</value></field><field var='pubsub#publish_model'><value>publishers</value></field>"+
		"<field var='pubsub#max_items'><value>1000</value></field><field var='pubsub#notify_retract'><value>1</value></field>"+
		"</x></configure></pubsub>")
	var e *IQError
	if err != nil && (!errors.As(err, &e) || e.Condition != "conflict") {
		sc.Log.Error("shared configuration: creating the node", "service", sc.Service, "node", sc.Node, "err", err)
		return false
	}
	if err == nil {
		members := ""
		for _, d := range append([]string{sc.shard.Link.Domain()}, sc.shard.Peers...) {
			members += "<affiliation" + attr("jid", d) + " affiliation='owner'/>"
		}
		if _, err := sc.call("set", "<pubsub xmlns='"+pubsub.NSOwner+"'><affiliations"+attr("node", sc.Node)+">"+
			members+"</affiliations></pubsub>"); err != nil {
			sc.Log.Error("shared configuration: making the instances owners", "err", err)
		}
	}
	if _, err := sc.call("set", "<pubsub xmlns='"+pubsub.NS+"'><subscribe"+attr("node", sc.Node)+
		attr("jid", sc.shard.Link.Domain())+"/></pubsub>"); err != nil {
		sc.Log.Error("shared configuration: subscribing", "service", sc.Service, "node", sc.Node, "err", err)
		return false
	}
	return true
}

// event takes a notification from the node: another instance's change
// (or this one's, coming back).
func (sc *SharedConfig) event(msg *xmlnode.Node, from string) {
	if from != sc.Service {
		return
	}
	ev := msg.Child(pubsub.NSEvent, "event")
	if ev == nil {
		return
	}
	items := ev.Child(pubsub.NSEvent, "items")
	if items == nil || items.Attr("node") != sc.Node {
		return
	}
	for _, it := range items.Children {
		switch {
		case it.Local == "item" && len(it.Children) == 1:
			sc.apply(it.Attr("id"), it.Children[0])
		case it.Local == "retract":
			sc.remove(it.Attr("id"))
		}
	}
}

// apply makes an item's fence or rule this instance's.
func (sc *SharedConfig) apply(item string, p *xmlnode.Node) {
	kind, id, _ := strings.Cut(item, "/")
	k := kinds[kind]
	if k == nil {
		return
	}
	// As this instance writes it: the upstream may serialize it otherwise.
	payload, store, err := k.read(id, p)
	if err != nil {
		sc.Log.Warn("shared configuration: an item that does not read", "item", item, "err", err)
		return
	}
	sc.mu.Lock()
	if sc.sent[item] == payload {
		sc.mu.Unlock()
		return
	}
	sc.sent[item] = payload
	sc.mu.Unlock()
	if k.current(sc.Geo, id) == payload {
		return
	}
	if err := store(sc.Geo); err != nil {
		sc.Log.Error("shared configuration: applying an item", "item", item, "err", err)
	}
}

// remove drops what another instance removed.
func (sc *SharedConfig) remove(item string) {
	kind, id, _ := strings.Cut(item, "/")
	k := kinds[kind]
	if k == nil {
		return
	}
	sc.mu.Lock()
	delete(sc.sent, item)
	sc.mu.Unlock()
	if err := k.remove(sc.Geo, id); err != nil {
		sc.Log.Error("shared configuration: removing an item", "item", item, "err", err)
	}
}
