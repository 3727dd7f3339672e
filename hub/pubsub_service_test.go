package hub_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// ps sends a pubsub IQ to the service and returns the answer.
func ps(c *xmpptest.Client, typ, ns, body string) *xmpptest.Node {
	return c.IQ("<iq type='" + typ + "' id='ID' to='pubsub.localhost'><pubsub xmlns='" + ns + "'>" + body + "</pubsub></iq>")
}

func ok(t *testing.T, what string, n *xmpptest.Node) *xmpptest.Node {
	t.Helper()
	if n.Attr("type") != "result" {
		t.Fatalf("%s: %s", what, n)
	}
	return n
}

func wantError(t *testing.T, what string, n *xmpptest.Node, cond, app string) {
	t.Helper()
	if n.ErrorCondition() != cond || app != "" && appCondition(n) != app {
		t.Errorf("%s: got %s, want %s %s", what, n, cond, app)
	}
}

func configForm(fields map[string]string) string {
	f := "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>"
	for k, v := range fields {
		f += "<field var='pubsub#" + k + "'><value>" + v + "</value></field>"
	}
	return f + "</x>"
}

func TestServiceNodeLifecycle(t *testing.T) {
	h := hubtest.Start(t)
	owner := h.Login(t, "dispatch", devices.RoleOperator)
	car := h.Login(t, "car", devices.RoleDevice)
	watcher := h.Login(t, "watcher", devices.RoleOperator)
	watcher.Send("<presence/>")
	watcher.Sync()

	// Devices do not create service nodes; operators do, and own them.
	wantError(t, "device creates", ps(car, "set", nsPubSub, "<create node='fleet/positions'/>"), "forbidden", "")
	ok(t, "create", ps(owner, "set", nsPubSub, "<create node='fleet/positions'/><configure>"+
		configForm(map[string]string{"access_model": "whitelist", "max_items": "2"})+"</configure>"))
	wantError(t, "create twice", ps(owner, "set", nsPubSub, "<create node='fleet/positions'/>"), "conflict", "")

	cfg := ok(t, "configure get", ps(owner, "get", nsPubSubOwner, "<configure node='fleet/positions'/>"))
	values := map[string]string{}
	for _, f := range cfg.Find("pubsub/configure/x").All("field") {
		if v := f.Child("", "value"); v != nil {
			values[f.Attr("var")] = v.Text
		}
	}
	if values["pubsub#access_model"] != "whitelist" || values["pubsub#max_items"] != "2" || values["pubsub#publish_model"] != "publishers" {
		t.Errorf("configuration: %v", values)
	}
	wantError(t, "configure by a non-owner", ps(watcher, "get", nsPubSubOwner, "<configure node='fleet/positions'/>"), "forbidden", "")
	res := ps(owner, "set", nsPubSubOwner, "<configure node='fleet/positions'>"+configForm(map[string]string{"max_items": "lots"})+"</configure>")
	if res.ErrorCondition() != "not-acceptable" || appCondition(res) != "" {
		t.Errorf("bad option: %s", res) // invalid-options is for subscription options
	}

	// Publishing needs the publisher affiliation; the device gets it.
	publish := func(c *xmpptest.Client, id string, lat float64) *xmpptest.Node {
		return ps(c, "set", nsPubSub, "<publish node='fleet/positions'><item id='"+id+"'>"+geoloc(lat, 13.4)+"</item></publish>")
	}
	wantError(t, "device publishes before it may", publish(car, "p0", 52), "forbidden", "")
	ok(t, "affiliations", ps(owner, "set", nsPubSubOwner, "<affiliations node='fleet/positions'><affiliation jid='car@localhost' affiliation='publisher'/></affiliations>"))
	ok(t, "device publishes", publish(car, "p1", 52.1))
	if p, _ := h.Geo.Latest("car@localhost"); p.Lat != 52.1 || p.Source != "pubsub/fleet/positions" {
		t.Errorf("position from a service node: %+v", p)
	}

	// The whitelist keeps the watcher out until it is a member.
	sub := "<subscribe node='fleet/positions' jid='watcher@localhost'/>"
	wantError(t, "subscribe off the whitelist", ps(watcher, "set", nsPubSub, sub), "not-allowed", "closed-node")
	wantError(t, "items off the whitelist", ps(watcher, "get", nsPubSub, "<items node='fleet/positions'/>"), "not-allowed", "closed-node")
	ok(t, "member", ps(owner, "set", nsPubSubOwner, "<affiliations node='fleet/positions'><affiliation jid='watcher@localhost' affiliation='member'/></affiliations>"))
	res = ok(t, "subscribe", ps(watcher, "set", nsPubSub, sub))
	s := res.Find("pubsub/subscription")
	if s.Attr("subscription") != "subscribed" || s.Attr("subid") == "" || s.Attr("jid") != "watcher@localhost" {
		t.Errorf("subscription: %s", res)
	}
	// The last item comes on subscription, then every new one.
	last := watcher.WaitFor("last item", isEventFrom("pubsub.localhost"))
	if last.Find("event/items/item").Attr("id") != "p1" || last.Find("event/items/item").Attr("publisher") != "car@localhost" {
		t.Errorf("last item: %s", last)
	}
	ok(t, "publish p2", publish(car, "p2", 52.2))
	ok(t, "publish p3", publish(car, "p3", 52.3))
	for _, id := range []string{"p2", "p3"} {
		ev := watcher.WaitFor("event "+id, isEventFrom("pubsub.localhost"))
		if ev.Find("event/items/item").Attr("id") != id {
			t.Errorf("event: %s", ev)
		}
	}

	// max_items 2: p1 is gone. Retrieval: all, the last one, by id.
	ids := func(n *xmpptest.Node) string {
		var out []string
		for _, it := range n.Find("pubsub/items").All("item") {
			out = append(out, it.Attr("id"))
		}
		return strings.Join(out, ",")
	}
	if got := ids(ok(t, "items", ps(watcher, "get", nsPubSub, "<items node='fleet/positions'/>"))); got != "p2,p3" {
		t.Errorf("items: %s", got)
	}
	if got := ids(ok(t, "max_items", ps(watcher, "get", nsPubSub, "<items node='fleet/positions' max_items='1'/>"))); got != "p3" {
		t.Errorf("max_items=1: %s", got)
	}
	if got := ids(ok(t, "by id", ps(watcher, "get", nsPubSub, "<items node='fleet/positions'><item id='p2'/></items>"))); got != "p2" {
		t.Errorf("by id: %s", got)
	}

	// Own subscriptions and affiliations; the owner's view of both.
	mine := ok(t, "own subscriptions", ps(watcher, "get", nsPubSub, "<subscriptions/>"))
	if mine.Find("pubsub/subscriptions/subscription").Attr("node") != "fleet/positions" {
		t.Errorf("own subscriptions: %s", mine)
	}
	affs := ok(t, "own affiliations", ps(car, "get", nsPubSub, "<affiliations/>"))
	if affs.Find("pubsub/affiliations/affiliation").Attr("affiliation") != "publisher" {
		t.Errorf("own affiliations: %s", affs)
	}
	all := ok(t, "owner lists subscriptions", ps(owner, "get", nsPubSubOwner, "<subscriptions node='fleet/positions'/>"))
	if all.Find("pubsub/subscriptions/subscription").Attr("jid") != "watcher@localhost" {
		t.Errorf("owner's subscriptions: %s", all)
	}

	// Retract with notification, by the publisher.
	ok(t, "retract", ps(car, "set", nsPubSub, "<retract node='fleet/positions' notify='true'><item id='p2'/></retract>"))
	ev := watcher.WaitFor("retract event", isEventFrom("pubsub.localhost"))
	if ev.Find("event/items/retract").Attr("id") != "p2" {
		t.Errorf("retract event: %s", ev)
	}
	wantError(t, "retract someone else's", ps(watcher, "set", nsPubSub, "<retract node='fleet/positions'><item id='p3'/></retract>"), "forbidden", "")

	// Survives a restart: node, configuration, items, subscriptions,
	// affiliations.
	h = hubtest.Restart(t, h)
	watcher = xmpptest.Dial(t, h.Options(), "watcher", pwOf(t, h, "watcher"))
	owner = xmpptest.Dial(t, h.Options(), "dispatch", pwOf(t, h, "dispatch"))
	if got := ids(ok(t, "items after restart", ps(watcher, "get", nsPubSub, "<items node='fleet/positions'/>"))); got != "p3" {
		t.Errorf("items after restart: %s", got)
	}
	all = ok(t, "subscriptions after restart", ps(owner, "get", nsPubSubOwner, "<subscriptions node='fleet/positions'/>"))
	if all.Find("pubsub/subscriptions/subscription").Attr("jid") != "watcher@localhost" {
		t.Errorf("subscriptions after restart: %s", all)
	}
	watcher.Send("<presence/>")
	watcher.Sync()

	// Purge and delete notify the subscriber.
	ok(t, "purge", ps(owner, "set", nsPubSubOwner, "<purge node='fleet/positions'/>"))
	if ev := watcher.WaitFor("purge event", isEventFrom("pubsub.localhost")); ev.Find("event/purge").Attr("node") != "fleet/positions" {
		t.Errorf("purge event: %s", ev)
	}
	if got := ids(ok(t, "items after purge", ps(watcher, "get", nsPubSub, "<items node='fleet/positions'/>"))); got != "" {
		t.Errorf("items after purge: %s", got)
	}
	// An outcast loses its subscription and can do nothing.
	ok(t, "outcast", ps(owner, "set", nsPubSubOwner, "<affiliations node='fleet/positions'><affiliation jid='watcher@localhost' affiliation='outcast'/></affiliations>"))
	wantError(t, "outcast subscribes", ps(watcher, "set", nsPubSub, sub), "forbidden", "")
	wantError(t, "outcast reads", ps(watcher, "get", nsPubSub, "<items node='fleet/positions'/>"), "forbidden", "")
	all = ok(t, "subscriptions after outcast", ps(owner, "get", nsPubSubOwner, "<subscriptions node='fleet/positions'/>"))
	if all.Find("pubsub/subscriptions/subscription") != nil {
		t.Errorf("the outcast kept its subscription: %s", all)
	}
	ok(t, "delete", ps(owner, "set", nsPubSubOwner, "<delete node='fleet/positions'/>"))
	wantError(t, "items of a deleted node", ps(owner, "get", nsPubSub, "<items node='fleet/positions'/>"), "item-not-found", "")
	wantError(t, "the last owner stays", ps(owner, "set", nsPubSubOwner, "<affiliations node='x'/>"), "item-not-found", "")
}

func pwOf(t *testing.T, h *hubtest.Hub, name string) string {
	t.Helper()
	pw, err := h.Accounts.SetPassword(name, "")
	if err != nil {
		t.Fatal(err)
	}
	return pw
}

func TestServiceSubscriberGetsDeleteEvent(t *testing.T) {
	h := hubtest.Start(t)
	owner := h.Login(t, "dispatch", devices.RoleOperator)
	fan := h.Login(t, "fan", devices.RoleDevice)
	fan.Send("<presence/>")
	ok(t, "create", ps(owner, "set", nsPubSub, "<create node='news'/>"))
	ok(t, "subscribe", ps(fan, "set", nsPubSub, "<subscribe node='news' jid='"+fan.JID.String()+"'/>"))
	wantError(t, "subscribe someone else", ps(fan, "set", nsPubSub, "<subscribe node='news' jid='dispatch@localhost'/>"), "bad-request", "invalid-jid")
	ok(t, "delete", ps(owner, "set", nsPubSubOwner, "<delete node='news'/>"))
	if ev := fan.WaitFor("delete event", isEventFrom("pubsub.localhost")); ev.Find("event/delete").Attr("node") != "news" {
		t.Errorf("delete event: %s", ev)
	}
}

func TestInstantNodesAndDefaults(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.DevicesCreateNodes = true })
	car := h.Login(t, "car", devices.RoleDevice)
	res := ok(t, "instant node", ps(car, "set", nsPubSub, "<create/>"))
	name := res.Find("pubsub/create").Attr("node")
	if name == "" {
		t.Fatalf("instant node without a name: %s", res)
	}
	ok(t, "publish to it", ps(car, "set", nsPubSub, "<publish node='"+name+"'><item><x xmlns='urn:example'/></item></publish>"))
	def := ok(t, "default config", ps(car, "get", nsPubSubOwner, "<default/>"))
	if def.Find("pubsub/default/x") == nil {
		t.Errorf("default config: %s", def)
	}
	wantError(t, "publish without payload", ps(car, "set", nsPubSub, "<publish node='"+name+"'><item/></publish>"), "bad-request", "payload-required")
	wantError(t, "two payloads", ps(car, "set", nsPubSub, "<publish node='"+name+"'><item><a xmlns='urn:a'/><b xmlns='urn:b'/></item></publish>"), "bad-request", "invalid-payload")
	for what, payload := range map[string]string{
		"a prefix declared outside the payload":    "<item xmlns:e='urn:e'><e:x/></item>",
		"a child in the stanza's namespace":        "<item><e:x xmlns:e='urn:e'><y/></e:x></item>",
		"an attribute prefix declared outside it":  "<item xmlns:e='urn:e'><x xmlns='urn:x' e:a='1'/></item>",
		"no namespace of its own (the pubsub one)": "<item><x/></item>",
	} {
		wantError(t, what, ps(car, "set", nsPubSub, "<publish node='"+name+"'>"+payload+"</publish>"), "bad-request", "invalid-payload")
	}
	ok(t, "a payload with its own prefix", ps(car, "set", nsPubSub, "<publish node='"+name+"'><item><e:x xmlns:e='urn:e'><e:y xml:lang='en'/></e:x></item></publish>"))
	wantError(t, "publish to nothing", ps(car, "set", nsPubSub, "<publish node='nope'><item><x xmlns='urn:example'/></item></publish>"), "item-not-found", "")
	wantError(t, "subscription options", ps(car, "get", nsPubSub, "<options node='"+name+"' jid='car@localhost'/>"), "feature-not-implemented", "unsupported")
}

func TestPubSubDisco(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator)
	items := op.IQ("<iq type='get' id='ID' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	if items.Find("query/item").Attr("jid") != "pubsub.localhost" {
		t.Errorf("server items: %s", items)
	}
	info := op.IQ("<iq type='get' id='ID' to='pubsub.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if info.Find("query/identity").Attr("category") != "pubsub" || info.Find("query/identity").Attr("type") != "service" {
		t.Errorf("service info: %s", info)
	}
	features := map[string]bool{}
	for _, f := range info.Find("query").All("feature") {
		features[f.Attr("var")] = true
	}
	for _, f := range []string{nsPubSub, nsPubSub + "#publish", nsPubSub + "#subscribe", nsPubSub + "#access-whitelist", nsPubSub + "#publish-options"} {
		if !features[f] {
			t.Errorf("service does not advertise %s", f)
		}
	}
	if features[nsPubSub+"#subscription-options"] {
		t.Error("advertises subscription options, which it does not do")
	}
	// The hub keeps the node alerts, which disco shows only to those who
	// may read it (admins); an operator's node joins it.
	ok(t, "create", ps(op, "set", nsPubSub, "<create node='fleet'/>"))
	wantError(t, "create alerts", ps(op, "set", nsPubSub, "<create node='alerts'/>"), "conflict", "")
	nodes := op.IQ("<iq type='get' id='ID' to='pubsub.localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	var names []string
	for _, it := range nodes.Find("query").All("item") {
		names = append(names, it.Attr("node"))
	}
	if slices.Sort(names); strings.Join(names, ",") != "fleet" {
		t.Errorf("nodes: %s", nodes)
	}
	nodeInfo := op.IQ("<iq type='get' id='ID' to='pubsub.localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='fleet'/></iq>")
	if nodeInfo.Find("query/identity").Attr("type") != "leaf" || nodeInfo.Find("query/x") == nil {
		t.Errorf("node info: %s", nodeInfo)
	}
	// PEP: the account advertises it, and lists its nodes.
	own := op.IQ("<iq type='get' id='ID' to='op@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	pep := false
	for _, id := range own.Find("query").All("identity") {
		pep = pep || id.Attr("type") == "pep"
	}
	if !pep {
		t.Errorf("account info lacks the pep identity: %s", own)
	}
	publishGeoloc(op, "x", 1, 1)
	pepNodes := op.IQ("<iq type='get' id='ID' to='op@localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	if pepNodes.Find("query/item").Attr("node") != nsGeoloc {
		t.Errorf("PEP nodes: %s", pepNodes)
	}
}

// Admins manage every node of the service, so a node is not stranded when
// its only owner's account is removed; nobody else gains anything, and
// admins get no say over anyone's PEP nodes.
func TestAdminsManageServiceNodes(t *testing.T) {
	h := hubtest.Start(t)
	owner := h.Login(t, "dispatch", devices.RoleOperator)
	admin := h.Login(t, "root", devices.RoleAdmin)
	other := h.Login(t, "other", devices.RoleOperator)
	ok(t, "create", ps(owner, "set", nsPubSub, "<create node='fleet/north'/>"))
	ok(t, "owner publishes", ps(owner, "set", nsPubSub, "<publish node='fleet/north'><item id='i1'>"+geoloc(52, 13)+"</item></publish>"))
	ok(t, "PEP publish", owner.IQ("<iq type='set' id='ID'><pubsub xmlns='"+nsPubSub+"'><publish node='urn:example:notes'><item id='n1'><note xmlns='urn:example:notes'/></item></publish></pubsub></iq>"))

	wantError(t, "another operator configures", ps(other, "get", nsPubSubOwner, "<configure node='fleet/north'/>"), "forbidden", "")
	wantError(t, "another operator retracts", ps(other, "set", nsPubSub, "<retract node='fleet/north'><item id='i1'/></retract>"), "forbidden", "")
	wantError(t, "an admin configures a PEP node", admin.IQ("<iq type='get' id='ID' to='dispatch@localhost'><pubsub xmlns='"+nsPubSubOwner+"'><configure node='urn:example:notes'/></pubsub></iq>"), "forbidden", "")

	if err := h.Accounts.Remove("dispatch"); err != nil {
		t.Fatal(err)
	}
	ok(t, "admin configures", ps(admin, "get", nsPubSubOwner, "<configure node='fleet/north'/>"))
	ok(t, "admin grants", ps(admin, "set", nsPubSubOwner, "<affiliations node='fleet/north'><affiliation jid='other@localhost' affiliation='owner'/></affiliations>"))
	ok(t, "the new owner configures", ps(other, "get", nsPubSubOwner, "<configure node='fleet/north'/>"))
	ok(t, "admin retracts", ps(admin, "set", nsPubSub, "<retract node='fleet/north'><item id='i1'/></retract>"))
	ok(t, "admin deletes", ps(admin, "set", nsPubSubOwner, "<delete node='fleet/north'/>"))
	wantError(t, "after delete", ps(other, "get", nsPubSubOwner, "<configure node='fleet/north'/>"), "item-not-found", "")
}
