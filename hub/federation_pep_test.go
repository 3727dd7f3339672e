package hub_test

import (
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/internal/xmpptest"
)

// A remote operator's client follows a device's PEP geoloc node as stock
// clients do (XEP-0163 auto-subscription): it subscribes to the device's
// presence, approves the device's request back, and announces
// geoloc+notify in its caps; the device's hub asks the caps from the
// device's JID, sends the last fix and then each new one, nothing while
// the device blocks the client, none once the client is unavailable, and
// each once when the client subscribes to the node as well. A remote
// operator without geoloc+notify, and a remote JID with geoloc+notify but
// no presence subscription, get nothing.
func TestFederationRemoteOperatorGetsPEPByCaps(t *testing.T) {
	hubs := startFederated(t, newTestCA(t), map[string]string{}, []string{"a.test", "b.test"})
	a, b := hubs[0], hubs[1]
	for _, op := range []string{"alice@a.test", "plain@a.test"} {
		if _, err := b.Accounts.Add(devices.NewAccount{Name: op, Role: devices.RoleOperator, Groups: []string{"fleet"}}); err != nil {
			t.Fatal(err)
		}
	}
	car := b.login(t, "car", devices.RoleDevice, "fleet")
	ok(t, "first fix", publishGeoloc(car, "f1", 52.52, 13.405))

	caps := newTestCaps(nsGeoloc + "+notify")
	alice := a.login(t, "alice", devices.RoleOperator)
	alice.Send("%s", caps.presence())
	caps.answer(t, alice, "a.test")
	follow(t, alice, "car@b.test")
	caps.answer(t, alice, "car@b.test") // her presence reached b.test with the caps
	isFix := func(id string) func(*xmpptest.Node) bool {
		return func(n *xmpptest.Node) bool {
			return isEventFrom("car@b.test")(n) && n.Find("event/items/item").Attr("id") == id
		}
	}
	last := alice.WaitFor("the last fix", isFix("f1"))
	if last.Attr("to") != alice.JID.String() || last.Find("event/items").Attr("node") != nsGeoloc {
		t.Errorf("last item: %s", last)
	}

	plain := a.login(t, "plain", devices.RoleOperator)
	follow(t, plain, "car@b.test")
	mallory := a.login(t, "mallory", devices.RoleOperator) // no account at b.test
	mallory.Send("<presence type='subscribe' to='car@b.test'/>")
	// Caps the hubs have not seen: b.test would ask her about them.
	mallory.Send("<presence to='car@b.test'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://geohub.test' ver='%s'/></presence>",
		newTestCaps(nsGeoloc+"+notify", "urn:xmpp:mallory").ver)
	car.WaitFor("mallory's request", func(n *xmpptest.Node) bool {
		return n.Name() == "presence" && n.Attr("from") == "mallory@a.test" && n.Attr("type") == "subscribe"
	})

	ok(t, "next fix", publishGeoloc(car, "f2", 52.53, 13.405))
	ev := alice.WaitFor("the next fix", isFix("f2"))
	if ev.Find("event/items/item/geoloc/lat").Text != "52.53" {
		t.Errorf("notification: %s", ev)
	}
	for _, c := range []*xmpptest.Client{plain, mallory} {
		for _, n := range afterMarker(t, car, c) {
			if isEventFrom("car@b.test")(n) || n.Name() == "iq" && n.Attr("from") == "car@b.test" {
				t.Errorf("%s got %s", c.JID, n)
			}
		}
	}

	// While the car blocks her (XEP-0191), alice gets nothing from it;
	// a chat from another account at b.test marks the end.
	blocking := func(verb string) {
		t.Helper()
		ok(t, verb, car.IQ("<iq type='set' id='ID'><"+verb+" xmlns='"+nsBlocking+"'><item jid='alice@a.test'/></"+verb+"></iq>"))
	}
	blocking("block")
	ok(t, "a fix while blocking", publishGeoloc(car, "f2b", 52.535, 13.405))
	for _, n := range afterMarker(t, b.login(t, "dispatch", devices.RoleOperator), alice) {
		if isEventFrom("car@b.test")(n) {
			t.Errorf("alice, blocked by the car, got %s", n)
		}
	}
	blocking("unblock")

	// Unavailable, alice gets no more fixes.
	alice.Send("<presence type='unavailable'/>")
	car.WaitFor("alice gone", func(n *xmpptest.Node) bool {
		return n.Name() == "presence" && n.Attr("from") == alice.JID.String() && n.Attr("type") == "unavailable"
	})
	ok(t, "a fix while alice is away", publishGeoloc(car, "f3", 52.54, 13.405))
	for _, n := range afterMarker(t, car, alice) {
		if isFix("f3")(n) {
			t.Errorf("alice, unavailable, got %s", n)
		}
	}

	// Back, she gets the last fix; subscribed to the node as well, she
	// gets each new one once.
	alice.Send("%s", caps.presence())
	alice.WaitFor("the last fix again", isFix("f3"))
	sub := "<iq type='set' id='ID' to='car@b.test'><pubsub xmlns='" + nsPubSub + "'><subscribe node='" + nsGeoloc + "' jid='alice@a.test'/></pubsub></iq>"
	ok(t, "alice subscribes", alice.IQ(sub))
	ok(t, "f4", publishGeoloc(car, "f4", 52.55, 13.405))
	n := 0
	for _, ev := range afterMarker(t, car, alice) {
		if isFix("f4")(ev) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("alice got f4 %d times, want once", n)
	}
}

// follow makes the client subscribe to contact's presence (approved at
// once for a remote operator of its groups) and approve the contact's
// request back.
func follow(t *testing.T, c *xmpptest.Client, contact string) {
	t.Helper()
	c.Send("<presence type='subscribe' to='%s'/>", contact)
	for _, typ := range []string{"subscribed", "subscribe"} {
		c.WaitFor(typ+" from "+contact, func(n *xmpptest.Node) bool {
			return n.Name() == "presence" && n.Attr("from") == contact && n.Attr("type") == typ
		})
	}
	c.Send("<presence type='subscribed' to='%s'/>", contact)
}

// afterMarker sends c a chat from sender and returns all c received before
// it: over one stream between the hubs, whatever sender's hub sent c
// earlier has arrived by then.
func afterMarker(t *testing.T, sender, c *xmpptest.Client) []*xmpptest.Node {
	t.Helper()
	sender.Send("<message to='%s' type='chat'><body>marker</body></message>", c.JID)
	c.WaitFor("the marker", func(n *xmpptest.Node) bool {
		return n.Name() == "message" && n.Attr("from") == sender.JID.String() && n.Find("body") != nil && n.Find("body").Text == "marker"
	})
	return c.Drain()
}
