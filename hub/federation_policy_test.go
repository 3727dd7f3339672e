package hub_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/internal/xmpptest"
)

// A local account's blocklist (XEP-0191) applies to remote JIDs as to
// local ones: a blocked remote user's chats get service-unavailable and its
// subscription request is dropped; a device that blocks its remote
// operator sends it neither presence nor PEP notifications, until it
// unblocks it.
func TestFederationBlocking(t *testing.T) {
	hubs := startFederated(t, newTestCA(t), map[string]string{}, []string{"a.test", "b.test"})
	a, b := hubs[0], hubs[1]
	alice := a.login(t, "alice", devices.RoleOperator)
	bob := b.login(t, "bob", devices.RoleOperator)
	carol := b.login(t, "carol", devices.RoleOperator)
	block := func(c *xmpptest.Client, verb, jid string) {
		t.Helper()
		if r := c.IQ("<iq type='set' id='ID'><" + verb + " xmlns='" + nsBlocking + "'><item jid='" + jid + "'/></" + verb + "></iq>"); r.Attr("type") != "result" {
			t.Fatalf("%s %s: %s", verb, jid, r)
		}
	}
	block(alice, "block", "bob@b.test")

	bob.Send("<presence type='subscribe' to='alice@a.test'/>")
	bob.Send("<message to='alice@a.test' type='chat' id='m1'><body>hello</body></message>")
	e := bob.WaitFor("the answer to m1", func(n *xmpptest.Node) bool { return n.Attr("id") == "m1" })
	if e.Attr("type") != "error" || e.ErrorCondition() != "service-unavailable" || e.Attr("from") != "alice@a.test" {
		t.Errorf("a chat to a user who blocks the sender: %s", e)
	}
	// Carol's chat comes after bob's stanzas, over the same stream.
	carol.Send("<message to='alice@a.test' type='chat' id='m2'><body>hi</body></message>")
	alice.WaitFor("carol's chat", func(n *xmpptest.Node) bool { return n.Attr("id") == "m2" })
	for _, n := range alice.Drain() {
		if n.Attr("from") == "bob@b.test" || n.Attr("from") == bob.JID.String() {
			t.Errorf("alice got %s from the user she blocks", n)
		}
	}

	// bob, a remote operator of a.test's fleet, follows the car.
	if _, err := a.Accounts.Add(devices.NewAccount{Name: "bob@b.test", Role: devices.RoleOperator, Groups: []string{"fleet"}}); err != nil {
		t.Fatal(err)
	}
	car := a.login(t, "car", devices.RoleDevice, "fleet")
	bob.WaitFor("the car online", func(n *xmpptest.Node) bool { return n.Name() == "presence" && n.Attr("from") == car.JID.String() })
	ok(t, "a first fix", publishGeoloc(car, "f0", 52.51, 13.405))
	sub := "<iq type='set' id='ID' to='car@a.test'><pubsub xmlns='" + nsPubSub + "'><subscribe node='" + nsGeoloc + "' jid='bob@b.test'/></pubsub></iq>"
	if r := bob.IQ(sub); r.Attr("type") != "result" {
		t.Fatalf("bob subscribes: %s", r)
	}
	bob.WaitFor("the last item", isEventFrom("car@a.test"))
	block(car, "block", "bob@b.test")
	car.Send("<presence><show>away</show></presence>")
	ok(t, "a fix while blocking", publishGeoloc(car, "f1", 52.52, 13.405))
	// The car's chat to carol follows its presence and notification on
	// the stream to b.test.
	car.Send("<message to='carol@b.test' type='chat' id='m3'><body>after</body></message>")
	carol.WaitFor("the car's chat", func(n *xmpptest.Node) bool { return n.Attr("id") == "m3" })
	for _, n := range bob.Drain() {
		if n.Attr("from") == car.JID.String() || n.Attr("from") == "car@a.test" {
			t.Errorf("bob got %s from the car that blocks him", n)
		}
	}
	block(car, "unblock", "bob@b.test")
	ok(t, "a fix after unblocking", publishGeoloc(car, "f2", 52.53, 13.405))
	ev := bob.WaitFor("the notification", isEventFrom("car@a.test"))
	if id := ev.Find("event/items/item").Attr("id"); id != "f2" {
		t.Errorf("bob's first notification after the block is %s, want f2", id)
	}
}

// Presence subscriptions to a domain the hub does not federate with
// (--s2s-deny, or not in --s2s-allow) are refused with
// remote-server-not-found and leave the roster as it was; one to an
// allowed domain goes.
func TestFederationSubscriptionAllowDeny(t *testing.T) {
	hubs := startFederated(t, newTestCA(t), map[string]string{}, []string{"a.test", "b.test"}, func(c *hub.Config) {
		if c.Domain == "a.test" {
			c.Federation.Allow = []string{"b.test", "c.test"}
			c.Federation.Deny = []string{"c.test"}
		}
	})
	a, b := hubs[0], hubs[1]
	alice := a.login(t, "alice", devices.RoleOperator)
	bob := b.login(t, "bob", devices.RoleOperator)
	for i, to := range []string{"carol@c.test", "dave@d.test"} {
		id := fmt.Sprintf("s%d", i)
		alice.Send("<presence type='subscribe' to='%s' id='%s'/>", to, id)
		e := alice.WaitFor("the answer to "+id, func(n *xmpptest.Node) bool { return n.Attr("id") == id })
		if e.Attr("type") != "error" || e.ErrorCondition() != "remote-server-not-found" {
			t.Errorf("a subscription to %s: %s", to, e)
		}
	}
	alice.Send("<presence type='subscribe' to='bob@b.test'/>")
	bob.WaitFor("alice's request", func(n *xmpptest.Node) bool { return n.Attr("type") == "subscribe" && n.Attr("from") == "alice@a.test" })
	var items []string
	for _, it := range alice.IQ("<iq type='get' id='ID'><query xmlns='jabber:iq:roster'/></iq>").Find("query").All("item") {
		items = append(items, it.Attr("jid"))
	}
	if !slices.Contains(items, "bob@b.test") || slices.Contains(items, "carol@c.test") || slices.Contains(items, "dave@d.test") {
		t.Errorf("alice's roster: %v", items)
	}
}
