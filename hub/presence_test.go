package hub_test

import (
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

func isPresenceFrom(jid, typ string) func(*xmpptest.Node) bool {
	return func(n *xmpptest.Node) bool {
		return n.Name() == "presence" && n.Attr("from") == jid && n.Attr("type") == typ
	}
}

func isRosterPush(jid string) func(*xmpptest.Node) bool {
	return func(n *xmpptest.Node) bool {
		return n.Name() == "iq" && n.Attr("type") == "set" && n.Find("query/item").Attr("jid") == jid
	}
}

func rosterItems(t *testing.T, c *xmpptest.Client) (map[string]*xmpptest.Node, string) {
	t.Helper()
	res := c.IQ("<iq type='get' id='ID'><query xmlns='jabber:iq:roster'/></iq>")
	q := res.Child("jabber:iq:roster", "query")
	if res.Attr("type") != "result" || q == nil {
		t.Fatalf("roster get: %s", res)
	}
	items := map[string]*xmpptest.Node{}
	for _, it := range q.All("item") {
		items[it.Attr("jid")] = it
	}
	return items, q.Attr("ver")
}

func TestRosterSetGetRemoveWithPushesAndVersions(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "alice", devices.RoleOperator)
	a1 := xmpptest.Dial(t, h.Options(), "alice", pw)
	a2 := xmpptest.Dial(t, h.Options(), "alice", pw) // never asks for the roster
	items, ver0 := rosterItems(t, a1)
	if len(items) != 1 || items["geohub@localhost"] == nil || ver0 == "" { // only the hub's contact
		t.Fatalf("new roster: %v ver %q", items, ver0)
	}
	res := a1.IQ("<iq type='set' id='ID'><query xmlns='jabber:iq:roster'><item jid='Bob@LocalHost' name='Bob'><group>Friends</group></item></query></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("roster set: %s", res)
	}
	push := a1.WaitFor("push", isRosterPush("bob@localhost"))
	item := push.Find("query/item")
	if item.Attr("subscription") != "none" || item.Attr("name") != "Bob" || item.Find("group").Text != "Friends" {
		t.Errorf("push: %s", push)
	}
	ver1 := push.Find("query").Attr("ver")
	if ver1 == ver0 {
		t.Errorf("version did not change: %s", ver1)
	}
	for _, n := range a2.Drain() {
		if n.Name() == "iq" {
			t.Errorf("push to a resource that never asked for the roster: %s", n)
		}
	}
	// Versioning: the current version gets an empty result.
	res = a1.IQ("<iq type='get' id='ID'><query xmlns='jabber:iq:roster' ver='" + ver1 + "'/></iq>")
	if res.Attr("type") != "result" || res.Child("jabber:iq:roster", "query") != nil {
		t.Errorf("roster get with the current version: %s", res)
	}
	items, _ = rosterItems(t, a1)
	if items["bob@localhost"] == nil {
		t.Fatalf("item missing: %v", items)
	}
	// Bad sets.
	for _, bad := range []string{
		"<item jid='a@b'><group>x</group><group>x</group></item>",
		"<item jid='a@b'/><item jid='c@d'/>",
		"<item jid='@@'/>",
	} {
		res := a1.IQ("<iq type='set' id='ID'><query xmlns='jabber:iq:roster'>" + bad + "</query></iq>")
		if res.ErrorCondition() != "bad-request" {
			t.Errorf("%s: %s", bad, res)
		}
	}
	res = a1.IQ("<iq type='set' id='ID'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("remove: %s", res)
	}
	push = a1.WaitFor("remove push", isRosterPush("bob@localhost"))
	if push.Find("query/item").Attr("subscription") != "remove" {
		t.Errorf("remove push: %s", push)
	}
	res = a1.IQ("<iq type='set' id='ID'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>")
	if res.ErrorCondition() != "item-not-found" {
		t.Errorf("removing twice: %s", res)
	}
}

func TestPresenceSubscriptionBothWays(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	rosterItems(t, alice)
	rosterItems(t, bob)
	alice.Send("<presence/>")
	bob.Send("<presence><show>chat</show></presence>")
	alice.Drain()
	bob.Drain()

	alice.Send("<presence type='subscribe' to='bob@localhost'/>")
	push := alice.WaitFor("ask push", isRosterPush("bob@localhost"))
	if it := push.Find("query/item"); it.Attr("ask") != "subscribe" || it.Attr("subscription") != "none" {
		t.Errorf("pending out: %s", push)
	}
	req := bob.WaitFor("request", isPresenceFrom("alice@localhost", "subscribe"))
	if req.Attr("to") != "bob@localhost" {
		t.Errorf("request: %s", req)
	}
	bob.Send("<presence type='subscribed' to='alice@localhost'/>")
	push = alice.WaitFor("to push", isRosterPush("bob@localhost"))
	if it := push.Find("query/item"); it.Attr("subscription") != "to" || it.Attr("ask") != "" {
		t.Errorf("after approval: %s", push)
	}
	alice.WaitFor("approval", isPresenceFrom("bob@localhost", "subscribed"))
	pres := alice.WaitFor("bob's presence", isPresenceFrom(bob.JID.String(), ""))
	if pres.Find("show").Text != "chat" {
		t.Errorf("bob's presence: %s", pres)
	}
	push = bob.WaitFor("from push", isRosterPush("alice@localhost"))
	if push.Find("query/item").Attr("subscription") != "from" {
		t.Errorf("bob's side: %s", push)
	}

	// And back: bob subscribes to alice, alice approves: both.
	bob.Send("<presence type='subscribe' to='alice@localhost'/>")
	alice.WaitFor("request", isPresenceFrom("bob@localhost", "subscribe"))
	alice.Send("<presence type='subscribed' to='bob@localhost'/>")
	bob.WaitFor("alice's presence", isPresenceFrom(alice.JID.String(), ""))
	items, _ := rosterItems(t, alice)
	if items["bob@localhost"].Attr("subscription") != "both" {
		t.Errorf("alice's roster: %v", items["bob@localhost"])
	}

	// Presence changes reach the subscriber; a dropped connection becomes
	// unavailable presence.
	bob.Send("<presence><show>away</show></presence>")
	if got := alice.WaitFor("away", isPresenceFrom(bob.JID.String(), "")); got.Find("show").Text != "away" {
		t.Errorf("update: %s", got)
	}
	bob.Conn().Close()
	alice.WaitFor("unavailable after drop", isPresenceFrom(bob.JID.String(), "unavailable"))

	// Unsubscribing takes the subscription away on both sides.
	alice.Drain()
	alice.Send("<presence type='unsubscribe' to='bob@localhost'/>")
	push = alice.WaitFor("unsubscribe push", isRosterPush("bob@localhost"))
	if push.Find("query/item").Attr("subscription") != "from" {
		t.Errorf("after unsubscribe: %s", push)
	}
	items, _ = rosterItems(t, alice)
	if items["bob@localhost"].Attr("subscription") != "from" {
		t.Errorf("alice's roster after unsubscribe: %v", items["bob@localhost"])
	}
}

func TestSubscriptionRequestWaitsForOfflineContact(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator)
	pw := h.Account(t, "bob", devices.RoleOperator)
	alice.Send("<presence type='subscribe' to='bob@localhost'><status>it is alice</status></presence>")
	alice.Drain()
	bob := xmpptest.Dial(t, h.Options(), "bob", pw)
	bob.Send("<presence/>")
	bob.WaitFor("stored request", isPresenceFrom("alice@localhost", "subscribe"))
	// A request nobody answered is not a roster item (the hub's contact is).
	items, _ := rosterItems(t, bob)
	if len(items) != 1 || items["alice@localhost"] != nil {
		t.Errorf("pending request shows in the roster: %v", items)
	}
}

func TestGroupsGiveOperatorsTheirFleet(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	car1 := h.Login(t, "car1", devices.RoleDevice, "fleet")
	h.Account(t, "car2", devices.RoleDevice, "fleet")
	h.Account(t, "truck", devices.RoleDevice, "other")
	items, _ := rosterItems(t, op)
	if len(items) != 3 || items["car1@localhost"].Attr("subscription") != "both" || items["car2@localhost"] == nil || items["geohub@localhost"] == nil {
		t.Fatalf("operator roster: %v", items)
	}
	if items["car1@localhost"].Find("group").Text != "fleet" {
		t.Errorf("group: %s", items["car1@localhost"])
	}
	op.Send("<presence/>")
	car1.Send("<presence/>")
	op.WaitFor("car1 online", isPresenceFrom(car1.JID.String(), ""))
	car1.WaitFor("op online", isPresenceFrom(op.JID.String(), ""))

	// Shared-group contacts cannot be removed by hand.
	res := op.IQ("<iq type='set' id='ID'><query xmlns='jabber:iq:roster'><item jid='car1@localhost' subscription='remove'/></query></iq>")
	if res.ErrorCondition() != "not-allowed" {
		t.Errorf("removing a group contact: %s", res)
	}

	// A device added to the fleet appears at once.
	h.Account(t, "car3", devices.RoleDevice, "fleet")
	push := op.WaitFor("car3 push", isRosterPush("car3@localhost"))
	if push.Find("query/item").Attr("subscription") != "both" {
		t.Errorf("push: %s", push)
	}
	// A device moved out of the fleet disappears, with its presence.
	if _, err := h.Accounts.Update("car1", func(a *devices.Account) error { a.Groups = []string{"other"}; return nil }); err != nil {
		t.Fatal(err)
	}
	push = op.WaitFor("car1 removal", isRosterPush("car1@localhost"))
	if push.Find("query/item").Attr("subscription") != "remove" {
		t.Errorf("push: %s", push)
	}
	op.WaitFor("car1 gone", isPresenceFrom(car1.JID.String(), "unavailable"))

	// A removed account is logged out.
	if err := h.Accounts.Remove("car1"); err != nil {
		t.Fatal(err)
	}
	if err := car1.Ended(); xmpptest.StreamErrorCondition(err) != "not-authorized" {
		t.Errorf("removed account's session ended with %v", err)
	}
}

func TestDirectedPresence(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	alice.Send("<presence/>")
	bob.Send("<presence/>")
	alice.Send("<presence to='%s'><status>hello</status></presence>", bob.JID)
	bob.WaitFor("directed", isPresenceFrom(alice.JID.String(), ""))
	alice.Send("</stream:stream>")
	bob.WaitFor("unavailable to the directed target", isPresenceFrom(alice.JID.String(), "unavailable"))
}

func TestRemovedAccountLeavesNothingForItsSuccessor(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator)
	rosterItems(t, alice)
	pw := h.Account(t, "bob", devices.RoleOperator)
	bob := xmpptest.Dial(t, h.Options(), "bob", pw)
	publishGeoloc(bob, "x", 5, 5)
	alice.Send("<presence type='subscribe' to='bob@localhost'/>")
	alice.Send("<message to='bob@localhost' type='chat'><body>for the old bob</body></message>")
	alice.WaitFor("ask push", isRosterPush("bob@localhost"))
	alice.Sync()
	if err := h.Accounts.Remove("bob"); err != nil {
		t.Fatal(err)
	}
	alice.WaitFor("removal push", func(n *xmpptest.Node) bool {
		return isRosterPush("bob@localhost")(n) && n.Find("query/item").Attr("subscription") == "remove"
	})
	if _, ok := h.Geo.Latest("bob@localhost"); ok {
		t.Error("the removed device's position is still stored")
	}
	pw = h.Account(t, "bob", devices.RoleOperator)
	bob = xmpptest.Dial(t, h.Options(), "bob", pw)
	bob.Send("<presence/>")
	for _, n := range bob.Drain() {
		if n.Name() == "message" || n.Attr("type") == "subscribe" {
			t.Errorf("the new bob got the old bob's %s", n)
		}
	}
	if items, _ := rosterItems(t, bob); len(items) != 1 || items["geohub@localhost"] == nil { // the hub's contact only
		t.Errorf("the new bob inherited a roster: %v", items)
	}
	if items, _ := rosterItems(t, alice); items["bob@localhost"] != nil {
		t.Errorf("alice still has the old bob: %v", items["bob@localhost"])
	}
	res := bob.IQ("<iq type='get' id='ID'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsGeoloc + "'/></pubsub></iq>")
	if res.ErrorCondition() != "item-not-found" {
		t.Errorf("the old bob's PEP node survived: %s", res)
	}
}

func TestRosterVersionSurvivesRestart(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "op", devices.RoleOperator, "fleet")
	h.Account(t, "car1", devices.RoleDevice, "fleet")
	op := xmpptest.Dial(t, h.Options(), "op", pw)
	_, ver := rosterItems(t, op)
	h = hubtest.Restart(t, h)
	h.Account(t, "car2", devices.RoleDevice, "fleet")
	op = xmpptest.Dial(t, h.Options(), "op", pw)
	res := op.IQ("<iq type='get' id='ID'><query xmlns='jabber:iq:roster' ver='" + ver + "'/></iq>")
	q := res.Child("jabber:iq:roster", "query")
	if q == nil || len(q.All("item")) != 3 { // car1, car2 and the hub
		t.Errorf("a cached version from before the restart got %s; car2 was added since", res)
	}
}
