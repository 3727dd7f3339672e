package component

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/pubsub"
)

// NSFence is the payload of a shared fence: its GeoJSON Feature as text.
const NSFence = "urn:geohub:fence:0"

// FenceSync keeps the fences the same on every instance through a node of
// the upstream's own pubsub service (the cluster is the replication bus):
// each fence is an item named by its ID, a removed fence a retracted item.
// A fence added or changed on any instance (API, CLI) is published there;
// every instance, subscribed with its own domain, applies what the others
// publish. The node is whitelisted: the instances publish and read it,
// nobody else.
//
// sent remembers each fence as the node holds it, so that applying an
// item does not publish it again. A change made while the link is down is
// published when it is back; a fence the node holds and this instance
// lacks is added, and one it holds that the node lacks is published.
type FenceSync struct {
	Service string // the upstream's pubsub service, e.g. pubsub.example.com
	Node    string
	Geo     *geoloc.Store
	Log     *slog.Logger

	shard   *Shard
	ops     chan fenceOp
	mu      sync.Mutex
	sent    map[string]string // fence ID -> payload the node holds
	pending map[string]bool   // fences changed here while the link was down
}

type fenceOp struct {
	id, payload string // payload empty: retract
}

// start watches the local fences and starts the publishing goroutine.
func (fs *FenceSync) start(s *Shard) {
	fs.shard, fs.sent, fs.pending = s, map[string]string{}, map[string]bool{}
	fs.ops = make(chan fenceOp, 1024)
	fs.Geo.WatchFences(fs.changed)
	go fs.publish()
}

// payload is a fence as an item: its Feature without the time it was
// created here, which each instance keeps for itself.
func payload(f *geoloc.Fence) string {
	feat := f.Feature()
	delete(feat.Properties, "created")
	b, _ := json.Marshal(feat)
	return string(xmlesc.Text([]byte("<fence xmlns='"+NSFence+"'>"), string(b))) + "</fence>"
}

// changed is the fences' watcher: a change made here goes to the node.
func (fs *FenceSync) changed(c geoloc.FenceChange) {
	id := c.Fence.ID
	p := ""
	if !c.Removed {
		p = payload(c.Fence)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if held, ok := fs.sent[id]; ok == !c.Removed && held == p {
		return // what the node holds: applied from it
	}
	if fs.shard.Link.Ready() != nil {
		fs.pending[id] = true
		return
	}
	if c.Removed {
		delete(fs.sent, id)
	} else {
		fs.sent[id] = p
	}
	select {
	case fs.ops <- fenceOp{id, p}:
	default:
		fs.pending[id] = true
		fs.Log.Warn("shared fences: too many changes at once; sent at the next link", "fence", id)
	}
}

// publish sends the changes, in order, on its own goroutine.
func (fs *FenceSync) publish() {
	for op := range fs.ops {
		fs.send(op)
	}
}

func (fs *FenceSync) send(op fenceOp) {
	var body string
	if op.payload == "" {
		body = "<retract" + string(xmlesc.Attr(nil, "node", fs.Node)) + " notify='true'><item" + string(xmlesc.Attr(nil, "id", op.id)) + "/></retract>"
	} else {
		body = "<publish" + string(xmlesc.Attr(nil, "node", fs.Node)) + "><item" + string(xmlesc.Attr(nil, "id", op.id)) + ">" + op.payload + "</item></publish>"
	}
	if _, err := fs.call("set", "<pubsub xmlns='"+pubsub.NS+"'>"+body+"</pubsub>"); err != nil {
		fs.Log.Error("shared fences: publishing a change", "fence", op.id, "err", err)
		fs.mu.Lock()
		fs.pending[op.id] = true
		fs.mu.Unlock()
	}
}

// call sends an IQ to the pubsub service and waits for its result.
func (fs *FenceSync) call(typ, payload string) (*xmlnode.Node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := fs.shard
	res, err := s.reqs.call(ctx, s.Link, func(id string) []byte {
		b := append(iqHead(typ, s.Link.Domain(), fs.Service, id), '>')
		return append(append(b, payload...), "</iq>"...)
	})
	if err == nil && res.Attr("type") == "error" {
		err = iqFailed(res)
	}
	return res, err
}

// linked runs each time the instance's link comes up: make sure of the
// node and the subscription, then reconcile with what the node holds.
func (fs *FenceSync) linked() {
	members := ""
	for _, d := range append([]string{fs.shard.Link.Domain()}, fs.shard.Peers...) {
		members += "<affiliation" + string(xmlesc.Attr(nil, "jid", d)) + " affiliation='publisher'/>"
	}
	_, err := fs.call("set", "<pubsub xmlns='"+pubsub.NS+"'><create"+string(xmlesc.Attr(nil, "node", fs.Node))+"/><configure>"+
		"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>"+pubsub.NS+"#node_config</value></field>"+
		"<field var='pubsub#access_model'><value>whitelist</value></field><field var='pubsub#publish_model'><value>publishers</value></field>"+
		"<field var='pubsub#max_items'><value>1000</value></field><field var='pubsub#notify_retract'><value>1</value></field>"+
		"</x></configure></pubsub>")
	var e *IQError
	created := err == nil
	if err != nil && (!errors.As(err, &e) || e.Condition != "conflict") {
		fs.Log.Error("shared fences: creating the node", "service", fs.Service, "node", fs.Node, "err", err)
		return
	}
	if created {
		// The creator owns the node and makes every instance a publisher.
		if _, err := fs.call("set", "<pubsub xmlns='"+pubsub.NSOwner+"'><affiliations"+string(xmlesc.Attr(nil, "node", fs.Node))+">"+
			members+"</affiliations></pubsub>"); err != nil {
			fs.Log.Error("shared fences: making the instances publishers", "err", err)
		}
	}
	if _, err := fs.call("set", "<pubsub xmlns='"+pubsub.NS+"'><subscribe"+string(xmlesc.Attr(nil, "node", fs.Node))+
		string(xmlesc.Attr(nil, "jid", fs.shard.Link.Domain()))+"/></pubsub>"); err != nil {
		fs.Log.Error("shared fences: subscribing", "service", fs.Service, "node", fs.Node, "err", err)
		return
	}
	res, err := fs.call("get", "<pubsub xmlns='"+pubsub.NS+"'><items"+string(xmlesc.Attr(nil, "node", fs.Node))+"/></pubsub>")
	if err != nil {
		fs.Log.Error("shared fences: reading the node", "err", err)
		return
	}
	// What changed here while the link was down wins over the node.
	fs.mu.Lock()
	pending := fs.pending
	fs.pending = map[string]bool{}
	fs.mu.Unlock()
	held := map[string]bool{}
	if ps := res.Child(pubsub.NS, "pubsub"); ps != nil {
		if items := ps.Child(pubsub.NS, "items"); items != nil {
			for _, it := range items.Children {
				if it.Local == "item" && len(it.Children) == 1 {
					held[it.Attr("id")] = true
					if !pending[it.Attr("id")] {
						fs.apply(it.Attr("id"), it.Children[0])
					}
				}
			}
		}
	}
	for _, f := range fs.Geo.Fences() {
		if !held[f.ID] || pending[f.ID] {
			delete(pending, f.ID)
			fs.changed(geoloc.FenceChange{Fence: f})
		}
	}
	for id := range pending { // removed here meanwhile
		if held[id] {
			fs.mu.Lock()
			fs.sent[id] = "" // so that the removal goes out
			fs.mu.Unlock()
			fs.changed(geoloc.FenceChange{Fence: &geoloc.Fence{ID: id}, Removed: true})
		}
	}
}

// event takes a notification from the node: another instance's change.
func (fs *FenceSync) event(msg *xmlnode.Node, from string) {
	if from != fs.Service {
		return
	}
	ev := msg.Child(pubsub.NSEvent, "event")
	if ev == nil {
		return
	}
	items := ev.Child(pubsub.NSEvent, "items")
	if items == nil || items.Attr("node") != fs.Node {
		return
	}
	for _, it := range items.Children {
		switch {
		case it.Local == "item" && len(it.Children) == 1:
			fs.apply(it.Attr("id"), it.Children[0])
		case it.Local == "retract":
			fs.remove(it.Attr("id"))
		}
	}
}

// apply makes the fence of an item this instance's.
func (fs *FenceSync) apply(id string, p *xmlnode.Node) {
	if p.Space != NSFence || p.Local != "fence" {
		return
	}
	fences, err := geoloc.ParseFences([]byte(p.Text))
	if err != nil || len(fences) != 1 || fences[0].ID != id {
		fs.Log.Warn("shared fences: an item that is not one fence", "id", id, "err", err)
		return
	}
	// As this instance writes it: the upstream may serialize it otherwise.
	item := payload(fences[0])
	fs.mu.Lock()
	if fs.sent[id] == item {
		fs.mu.Unlock()
		return
	}
	fs.sent[id] = item
	fs.mu.Unlock()
	if cur, ok := fs.Geo.Fence(id); ok && payload(cur) == item {
		return
	}
	if _, err := fs.Geo.AddFences(fences, nil); err != nil {
		fs.Log.Error("shared fences: applying a fence", "fence", id, "err", err)
	}
}

// remove drops a fence another instance removed.
func (fs *FenceSync) remove(id string) {
	fs.mu.Lock()
	delete(fs.sent, id)
	fs.mu.Unlock()
	if err := fs.Geo.RemoveFence(id); err != nil && !errors.Is(err, geoloc.ErrNoFence) {
		fs.Log.Error("shared fences: removing a fence", "fence", id, "err", err)
	}
}
