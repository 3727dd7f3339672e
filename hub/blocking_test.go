package hub_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

const nsBlocking = "urn:xmpp:blocking"

// blockIQ sends a block or unblock set with the JIDs as items.
func blockIQ(c *xmpptest.Client, action string, jids ...string) *xmpptest.Node {
	items := ""
	for _, j := range jids {
		items += "<item jid='" + j + "'/>"
	}
	return c.IQ("<iq type='set' id='ID'><" + action + " xmlns='" + nsBlocking + "'>" + items + "</" + action + "></iq>")
}

// blocklist returns the JIDs of the account's blocklist, and marks the
// resource as one that gets pushes.
func blocklist(t *testing.T, c *xmpptest.Client) []string {
	t.Helper()
	res := c.IQ("<iq type='get' id='ID'><blocklist xmlns='" + nsBlocking + "'/></iq>")
	list := res.Child(nsBlocking, "blocklist")
	if res.Attr("type") != "result" || list == nil {
		t.Fatalf("blocklist: %s", res)
	}
	var out []string
	for _, it := range list.All("item") {
		out = append(out, it.Attr("jid"))
	}
	return out
}

func mustResult(t *testing.T, what string, n *xmpptest.Node) {
	t.Helper()
	if n.Attr("type") != "result" {
		t.Fatalf("%s: %s", what, n)
	}
}

func isBlockPush(action string) func(*xmpptest.Node) bool {
	return func(n *xmpptest.Node) bool {
		return n.Name() == "iq" && n.Attr("type") == "set" && n.Child(nsBlocking, action) != nil
	}
}

// pushItems lists the items of a block or unblock push.
func pushItems(n *xmpptest.Node, action string) []string {
	var out []string
	for _, it := range n.Child(nsBlocking, action).All("item") {
		out = append(out, it.Attr("jid"))
	}
	return out
}

// Block and unblock answer, change the list, and are pushed to the
// resources that asked for the list, and only to them (§3.3).
func TestBlocklistPushes(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "alice", devices.RoleOperator)
	desk := xmpptest.Dial(t, h.Options(), "alice", pw)
	phone := xmpptest.Dial(t, h.Options(), "alice", pw)
	if got := blocklist(t, desk); len(got) != 0 {
		t.Fatalf("a new account's blocklist: %v", got)
	}
	mustResult(t, "block", blockIQ(phone, "block", "Bob@LocalHost", "spam.example", "eve@localhost/phone"))
	push := desk.WaitFor("block push", isBlockPush("block"))
	if got := pushItems(push, "block"); !slices.Equal(got, []string{"bob@localhost", "eve@localhost/phone", "spam.example"}) {
		t.Errorf("block push items: %v", got)
	}
	if push.Attr("to") != desk.JID.String() || push.Attr("id") == "" {
		t.Errorf("block push: %s", push)
	}
	for _, n := range phone.Drain() {
		if isBlockPush("block")(n) {
			t.Errorf("a push reached a resource that never asked for the list: %s", n)
		}
	}
	want := []string{"bob@localhost", "eve@localhost/phone", "spam.example"}
	if got := blocklist(t, phone); !slices.Equal(got, want) {
		t.Errorf("blocklist: %v, want %v", got, want)
	}
	// Now the phone asked: both get the unblock push.
	mustResult(t, "unblock", blockIQ(desk, "unblock", "spam.example", "not-blocked@localhost"))
	for _, c := range []*xmpptest.Client{desk, phone} {
		if got := pushItems(c.WaitFor("unblock push", isBlockPush("unblock")), "unblock"); !slices.Equal(got, []string{"not-blocked@localhost", "spam.example"}) {
			t.Errorf("%s: unblock push items: %v", c.JID, got)
		}
	}
	if got := blocklist(t, desk); !slices.Equal(got, []string{"bob@localhost", "eve@localhost/phone"}) {
		t.Errorf("after unblock: %v", got)
	}
	// An empty unblock unblocks everyone, and is pushed empty.
	mustResult(t, "unblock all", blockIQ(desk, "unblock"))
	for _, c := range []*xmpptest.Client{desk, phone} {
		if got := pushItems(c.WaitFor("unblock-all push", isBlockPush("unblock")), "unblock"); len(got) != 0 {
			t.Errorf("%s: unblock-all push items: %v", c.JID, got)
		}
	}
	if got := blocklist(t, desk); len(got) != 0 {
		t.Errorf("after unblock all: %v", got)
	}
}

func TestBlockingRequestErrors(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator)
	for _, tc := range []struct{ what, iq, cond string }{
		{"block without items", "<iq type='set' id='ID'><block xmlns='urn:xmpp:blocking'/></iq>", "bad-request"},
		{"item without jid", "<iq type='set' id='ID'><block xmlns='urn:xmpp:blocking'><item/></block></iq>", "bad-request"},
		{"malformed jid", "<iq type='set' id='ID'><block xmlns='urn:xmpp:blocking'><item jid='a@b@c'/></block></iq>", "jid-malformed"},
		{"blocklist set", "<iq type='set' id='ID'><blocklist xmlns='urn:xmpp:blocking'/></iq>", "bad-request"},
		{"block get", "<iq type='get' id='ID'><block xmlns='urn:xmpp:blocking'><item jid='x@localhost'/></block></iq>", "bad-request"},
	} {
		if res := alice.IQ(tc.iq); res.ErrorCondition() != tc.cond {
			t.Errorf("%s: %s, want %s", tc.what, res, tc.cond)
		}
	}
	// A refused request changes nothing, even with valid items beside.
	res := alice.IQ("<iq type='set' id='ID'><block xmlns='urn:xmpp:blocking'><item jid='ok@localhost'/><item jid='a@b@c'/></block></iq>")
	if res.ErrorCondition() != "jid-malformed" {
		t.Errorf("one bad item among good ones: %s", res)
	}
	if got := blocklist(t, alice); len(got) != 0 {
		t.Errorf("a refused block changed the list: %v", got)
	}
	// The list is bounded.
	var jids []string
	for i := range 1000 {
		jids = append(jids, fmt.Sprintf("u%d@example.net", i))
	}
	mustResult(t, "block 500", blockIQ(alice, "block", jids[:500]...))
	mustResult(t, "block 500 more", blockIQ(alice, "block", jids[500:]...))
	if res := blockIQ(alice, "block", "one-too-many@example.net"); res.ErrorCondition() != "resource-constraint" || !strings.Contains(res.String(), "1000") {
		t.Errorf("the 1001st JID: %s", res)
	}
	mustResult(t, "blocking a JID again", blockIQ(alice, "block", jids[0]))
	if got := blocklist(t, alice); len(got) != 1000 {
		t.Errorf("blocklist holds %d JIDs", len(got))
	}
}

// blockedError reports whether n is the not-acceptable + <blocked/> error
// of §3.3.
func blockedError(n *xmpptest.Node) bool {
	e := n.Child("", "error")
	return n.Attr("type") == "error" && n.ErrorCondition() == "not-acceptable" && e != nil && e.Child("urn:xmpp:blocking:errors", "blocked") != nil
}

// barrier sends a chat from c to dst and waits for it: whatever the hub
// routed to dst before has arrived by then.
func barrier(t *testing.T, c, dst *xmpptest.Client, label string) {
	t.Helper()
	c.Send("<message to='%s' type='chat'><body>%s</body></message>", dst.JID, label)
	dst.WaitFor("barrier "+label, func(n *xmpptest.Node) bool {
		b := n.Child("", "body")
		return n.Name() == "message" && b != nil && b.Text == label
	})
}

// Stanzas from a blocked JID do not reach the user: requests and chats get
// service-unavailable, the rest are dropped without a word; what the user
// sends to it is refused with not-acceptable and <blocked/> (§3.3).
func TestBlockingStopsStanzas(t *testing.T) {
	h := hubtest.Start(t)
	// A fleet: without the block, bob may ping alice's bare JID.
	alice := h.Login(t, "alice", devices.RoleOperator, "fleet")
	bob := h.Login(t, "bob", devices.RoleDevice, "fleet")
	carol := h.Login(t, "carol", devices.RoleOperator)
	for _, c := range []*xmpptest.Client{alice, bob, carol} {
		c.Send("<presence/>")
		c.Sync()
	}
	mustResult(t, "block", blockIQ(alice, "block", "bob@localhost"))
	alice.Drain()
	bob.Drain()

	for _, to := range []string{alice.JID.String(), "alice@localhost"} {
		for _, typ := range []string{"chat", "normal"} {
			bob.Send("<message to='%s' type='%s' id='m1'><body>hello</body></message>", to, typ)
			e := bob.WaitFor("bounce", func(n *xmpptest.Node) bool { return n.Name() == "message" && n.Attr("id") == "m1" })
			if e.Attr("type") != "error" || e.ErrorCondition() != "service-unavailable" {
				t.Errorf("%s message to %s from a blocked JID: %s", typ, to, e)
			}
		}
		bob.Send("<message to='%s' type='headline'><body>headline</body></message>", to)
		if res := bob.IQ("<iq type='get' id='ID' to='" + to + "'><ping xmlns='urn:xmpp:ping'/></iq>"); res.ErrorCondition() != "service-unavailable" {
			t.Errorf("IQ to %s from a blocked JID: %s", to, res)
		}
		bob.Send("<iq type='result' id='r1' to='%s'/>", to)
		bob.Send("<presence to='%s'/>", to)
		bob.Send("<presence to='%s' type='subscribe'/>", to)
	}
	barrier(t, carol, alice, "after bob")
	for _, n := range alice.Drain() {
		if strings.HasPrefix(n.Attr("from"), "bob@localhost") {
			t.Errorf("a stanza from a blocked JID reached the user: %s", n)
		}
	}
	for _, n := range bob.Drain() {
		if n.Attr("type") == "error" {
			t.Errorf("an error for something that should be dropped silently: %s", n)
		}
	}

	// Outbound: refused with <blocked/>.
	alice.Send("<message to='bob@localhost' type='chat' id='out1'><body>hi</body></message>")
	if e := alice.WaitFor("bounce", func(n *xmpptest.Node) bool { return n.Attr("id") == "out1" }); !blockedError(e) {
		t.Errorf("message to a blocked JID: %s", e)
	}
	if res := alice.IQ("<iq type='get' id='ID' to='" + bob.JID.String() + "'><ping xmlns='urn:xmpp:ping'/></iq>"); !blockedError(res) {
		t.Errorf("IQ to a blocked JID: %s", res)
	}
	alice.Send("<presence to='bob@localhost' id='p1'/>")
	if e := alice.WaitFor("bounce", func(n *xmpptest.Node) bool { return n.Attr("id") == "p1" }); !blockedError(e) {
		t.Errorf("presence to a blocked JID: %s", e)
	}
	barrier(t, carol, bob, "after alice")
	for _, n := range bob.Drain() {
		if strings.HasPrefix(n.Attr("from"), "alice@localhost") {
			t.Errorf("a stanza to a blocked JID went out: %s", n)
		}
	}

	// Unblocked, both ways work again.
	mustResult(t, "unblock", blockIQ(alice, "unblock", "bob@localhost"))
	barrier(t, bob, alice, "bob again")
	barrier(t, alice, bob, "alice again")
}

// A blocked sender's message to an offline user is refused, not stored.
func TestBlockedMessagesAreNotStoredOffline(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "alice", devices.RoleOperator)
	alice := xmpptest.Dial(t, h.Options(), "alice", pw)
	mustResult(t, "block", blockIQ(alice, "block", "bob@localhost"))
	alice.Close()
	bob := h.Login(t, "bob", devices.RoleOperator)
	carol := h.Login(t, "carol", devices.RoleOperator)
	bob.Send("<message to='alice@localhost' type='chat' id='off1'><body>from bob</body></message>")
	if e := bob.WaitFor("bounce", func(n *xmpptest.Node) bool { return n.Attr("id") == "off1" }); e.ErrorCondition() != "service-unavailable" {
		t.Errorf("offline message from a blocked JID: %s", e)
	}
	carol.Send("<message to='alice@localhost' type='chat'><body>from carol</body></message>")
	carol.Sync()
	alice = xmpptest.Dial(t, h.Options(), "alice", pw)
	alice.Send("<presence/>")
	alice.WaitFor("carol's stored message", func(n *xmpptest.Node) bool { return n.Attr("from") == carol.JID.String() })
	for _, n := range alice.Drain() {
		if strings.HasPrefix(n.Attr("from"), "bob@localhost") {
			t.Errorf("a blocked JID's message was stored: %s", n)
		}
	}
}

// Blocking a contact tells it the user went unavailable and stops
// presence both ways; unblocking sends the current presence again (§3.3,
// §3.4).
func TestBlockingPresence(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator, "fleet")
	bob := h.Login(t, "bob", devices.RoleDevice, "fleet")
	alice.Send("<presence><status>here</status></presence>")
	alice.Sync()
	bob.Send("<presence/>")
	bob.WaitFor("alice's presence", isPresenceFrom(alice.JID.String(), ""))
	alice.WaitFor("bob's presence", isPresenceFrom(bob.JID.String(), ""))

	mustResult(t, "block", blockIQ(alice, "block", "bob@localhost"))
	bob.WaitFor("alice unavailable", isPresenceFrom(alice.JID.String(), "unavailable"))
	alice.WaitFor("bob unavailable", isPresenceFrom(bob.JID.String(), "unavailable"))
	// Presence changes and PEP events no longer cross.
	alice.Send("<presence><status>busy</status></presence>")
	bob.Send("<presence><status>driving</status></presence>")
	barrier(t, h.Login(t, "dave", devices.RoleOperator), bob, "after presence")
	for _, n := range bob.Drain() {
		if n.Name() == "presence" && strings.HasPrefix(n.Attr("from"), "alice@localhost") {
			t.Errorf("presence of a user who blocked bob: %s", n)
		}
	}
	for _, n := range alice.Drain() {
		if n.Name() == "presence" && strings.HasPrefix(n.Attr("from"), "bob@localhost") {
			t.Errorf("presence of a blocked contact: %s", n)
		}
	}

	// One who got directed presence hears of the block too.
	carol := h.Login(t, "carol", devices.RoleOperator)
	carol.Send("<presence/>")
	carol.Sync()
	alice.Send("<presence to='carol@localhost'/>")
	carol.WaitFor("directed presence", isPresenceFrom(alice.JID.String(), ""))
	mustResult(t, "block carol", blockIQ(alice, "block", "carol@localhost"))
	carol.WaitFor("alice unavailable", isPresenceFrom(alice.JID.String(), "unavailable"))

	mustResult(t, "unblock", blockIQ(alice, "unblock", "bob@localhost"))
	p := bob.WaitFor("alice's presence again", isPresenceFrom(alice.JID.String(), ""))
	if s := p.Child("", "status"); s == nil || s.Text != "busy" {
		t.Errorf("presence after unblocking: %s, want the current one", p)
	}
	alice.WaitFor("bob's presence again", isPresenceFrom(bob.JID.String(), ""))
}

// JID matching (§5): a full JID blocks that resource only, a domain every
// JID at it; the account's own resources are never blocked.
func TestBlockingJIDMatching(t *testing.T) {
	h := hubtest.Start(t)
	apw := h.Account(t, "alice", devices.RoleOperator)
	alice := xmpptest.Dial(t, h.Options(), "alice", apw)
	alicePhone := xmpptest.Dial(t, h.Options(), "alice", apw)
	bpw := h.Account(t, "bob", devices.RoleOperator)
	bobPhone := xmpptest.Dial(t, h.Options(), "bob", bpw)
	bobDesk := xmpptest.Dial(t, h.Options(), "bob", bpw)
	for _, c := range []*xmpptest.Client{alice, alicePhone, bobPhone, bobDesk} {
		c.Send("<presence/>")
		c.Sync()
	}
	mustResult(t, "block a resource", blockIQ(alice, "block", bobPhone.JID.String()))
	if res := bobPhone.IQ("<iq type='get' id='ID' to='" + alice.JID.String() + "'><ping xmlns='urn:xmpp:ping'/></iq>"); res.ErrorCondition() != "service-unavailable" {
		t.Errorf("IQ from the blocked resource: %s", res)
	}
	barrier(t, bobDesk, alice, "from another resource")

	mustResult(t, "block the domain", blockIQ(alice, "block", "localhost"))
	bobDesk.Send("<message to='alice@localhost' type='chat' id='d1'><body>x</body></message>")
	if e := bobDesk.WaitFor("bounce", func(n *xmpptest.Node) bool { return n.Attr("id") == "d1" }); e.ErrorCondition() != "service-unavailable" {
		t.Errorf("message from a blocked domain: %s", e)
	}
	// The account's own resources and the hub itself still reach it.
	barrier(t, alicePhone, alice, "own resource")
	if res := alice.IQ("<iq type='get' id='ID' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"); res.Attr("type") != "result" {
		t.Errorf("the hub is blocked with its domain: %s", res)
	}
	if res := alice.IQ("<iq type='get' id='ID'><query xmlns='jabber:iq:roster'/></iq>"); res.Attr("type") != "result" {
		t.Errorf("own account with the domain blocked: %s", res)
	}
}

// The blocklist is kept across restarts and still applies.
func TestBlocklistSurvivesRestart(t *testing.T) {
	h := hubtest.Start(t)
	apw := h.Account(t, "alice", devices.RoleOperator)
	bpw := h.Account(t, "bob", devices.RoleOperator)
	alice := xmpptest.Dial(t, h.Options(), "alice", apw)
	mustResult(t, "block", blockIQ(alice, "block", "bob@localhost", "spam.example"))
	mustResult(t, "unblock", blockIQ(alice, "unblock", "spam.example"))
	alice.Close()
	h = hubtest.Restart(t, h)
	alice = xmpptest.Dial(t, h.Options(), "alice", apw)
	alice.Send("<presence/>")
	alice.Sync()
	if got := blocklist(t, alice); !slices.Equal(got, []string{"bob@localhost"}) {
		t.Errorf("blocklist after a restart: %v", got)
	}
	bob := xmpptest.Dial(t, h.Options(), "bob", bpw)
	bob.Send("<message to='alice@localhost' type='chat' id='r1'><body>x</body></message>")
	if e := bob.WaitFor("bounce", func(n *xmpptest.Node) bool { return n.Attr("id") == "r1" }); e.ErrorCondition() != "service-unavailable" {
		t.Errorf("message from a JID blocked before the restart: %s", e)
	}
}

// PEP events from a blocked account stop, whether they come through caps
// (+notify: dave) or an explicit subscription (alice).
func TestBlockingStopsPEPEvents(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator, "fleet")
	dave := h.Login(t, "dave", devices.RoleOperator, "fleet")
	bob := h.Login(t, "bob", devices.RoleDevice, "fleet")
	carol := h.Login(t, "carol", devices.RoleDevice, "fleet")
	announceCaps(t, dave, nsGeoloc+"+notify")
	alice.Send("<presence/>")
	for _, dev := range []string{"bob", "carol"} {
		c := map[string]*xmpptest.Client{"bob": bob, "carol": carol}[dev]
		mustResult(t, dev+" makes a node", publishGeoloc(c, "first", 1, 1))
		mustResult(t, "subscribe to "+dev, alice.IQ("<iq type='set' id='ID' to='"+dev+"@localhost'><pubsub xmlns='"+nsPubSub+"'><subscribe node='"+nsGeoloc+"' jid='alice@localhost'/></pubsub></iq>"))
	}
	// A publish is answered once its events are queued: carol's then
	// marks the end of what bob published before.
	marks := 0
	bobEvents := func() map[string]int {
		t.Helper()
		// Each mark a new fix: the same one again would be a repeat,
		// which notifies nobody (pubsub/repeat.go).
		marks++
		mark := fmt.Sprintf("mark%d", marks)
		mustResult(t, "carol publishes", publishGeoloc(carol, mark, 2, 2+float64(marks)/1000))
		n := map[string]int{}
		for _, c := range []*xmpptest.Client{alice, dave} {
			c.WaitFor("carol's event", func(m *xmpptest.Node) bool {
				return isEventFrom("carol@localhost")(m) && m.Find("event/items/item").Attr("id") == mark
			})
			for _, m := range c.Drain() {
				if isEventFrom("bob@localhost")(m) {
					n[c.JID.Localpart()]++
				}
			}
		}
		return n
	}
	bobEvents()
	mustResult(t, "bob publishes", publishGeoloc(bob, "a", 1, 1))
	if n := bobEvents(); n["alice"] != 1 || n["dave"] != 1 {
		t.Fatalf("events before blocking: %v, want one each", n)
	}
	mustResult(t, "alice blocks", blockIQ(alice, "block", "bob@localhost"))
	mustResult(t, "dave blocks", blockIQ(dave, "block", "bob@localhost"))
	mustResult(t, "bob publishes", publishGeoloc(bob, "b", 1, 1))
	if n := bobEvents(); len(n) != 0 {
		t.Errorf("events from a blocked account: %v", n)
	}
}

// A contact that blocks one resource of the user stops hearing that
// resource's presence, and still hears the others'.
func TestBlockingOneResourcePresence(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "alice", devices.RoleOperator, "fleet")
	desk := xmpptest.Dial(t, h.Options(), "alice", pw)
	phone := xmpptest.Dial(t, h.Options(), "alice", pw)
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	car.Send("<presence/>")
	car.Sync()
	for _, c := range []*xmpptest.Client{desk, phone} {
		c.Send("<presence/>")
		car.WaitFor("presence of "+c.JID.String(), isPresenceFrom(c.JID.String(), ""))
	}
	mustResult(t, "block the desk", blockIQ(car, "block", desk.JID.String()))
	car.WaitFor("the desk unavailable", isPresenceFrom(desk.JID.String(), "unavailable"))
	desk.Send("<presence><status>desk</status></presence>")
	desk.Sync()
	phone.Send("<presence><status>phone</status></presence>")
	car.WaitFor("the phone's new presence", isPresenceFrom(phone.JID.String(), ""))
	for _, n := range car.Drain() {
		if n.Attr("from") == desk.JID.String() {
			t.Errorf("presence of a blocked resource: %s", n)
		}
	}
}
