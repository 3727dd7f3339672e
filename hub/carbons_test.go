package hub_test

import (
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

const (
	nsCarbons = "urn:xmpp:carbons:2"
	nsForward = "urn:xmpp:forward:0"
	nsSID     = "urn:xmpp:sid:0"
)

// loginAs logs a resource of an existing account in.
func loginAs(t *testing.T, h *hubtest.Hub, name, pw, resource string) *xmpptest.Client {
	t.Helper()
	o := h.Options()
	o.Resource = resource
	return xmpptest.Dial(t, o, name, pw)
}

func enableCarbons(t *testing.T, c *xmpptest.Client) {
	t.Helper()
	ok(t, "enable carbons", c.IQ("<iq type='set' id='ID'><enable xmlns='"+nsCarbons+"'/></iq>"))
}

// carbonOf returns the message a carbon of direction dir ("sent" or
// "received") forwards, or nil when n is no such carbon from the account's
// bare JID.
func carbonOf(n *xmpptest.Node, bare, dir string) *xmpptest.Node {
	if n.Name() != "message" || n.Attr("from") != bare {
		return nil
	}
	c := n.Child(nsCarbons, dir)
	if c == nil {
		return nil
	}
	f := c.Child(nsForward, "forwarded")
	if f == nil {
		return nil
	}
	return f.Child("jabber:client", "message")
}

func isCarbon(bare, dir, body string) func(*xmpptest.Node) bool {
	return func(n *xmpptest.Node) bool {
		m := carbonOf(n, bare, dir)
		return m != nil && m.Find("body") != nil && m.Find("body").Text == body
	}
}

func isChat(body string) func(*xmpptest.Node) bool {
	return func(n *xmpptest.Node) bool {
		return n.Name() == "message" && n.Find("body") != nil && n.Find("body").Text == body
	}
}

// noCarbon fails when c got any carbon by now.
func noCarbon(t *testing.T, c *xmpptest.Client, what string) {
	t.Helper()
	for _, n := range c.Drain() {
		if n.Child(nsCarbons, "sent") != nil || n.Child(nsCarbons, "received") != nil {
			t.Errorf("%s: unexpected carbon %s", what, n)
		}
	}
}

func TestCarbonsCopyConversationsToTheOtherResources(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "op", devices.RoleOperator, "fleet")
	phone := loginAs(t, h, "op", pw, "phone")
	desktop := loginAs(t, h, "op", pw, "desktop")
	bob := h.Login(t, "bob", devices.RoleOperator, "fleet")
	for _, c := range []*xmpptest.Client{phone, desktop, bob} {
		c.Send("<presence/>")
	}
	enableCarbons(t, phone)
	enableCarbons(t, desktop)

	// The server says it has carbons.
	info := ok(t, "disco", phone.IQ("<iq type='get' to='localhost' id='ID'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
	if !hasFeature(info, nsCarbons) {
		t.Errorf("disco#info lacks carbons: %s", info)
	}

	// A chat to the phone's full JID: the desktop gets a received carbon.
	bob.Send("<message type='chat' to='op@localhost/%s' id='m1'><body>to the phone</body></message>", phone.JID.Resourcepart())
	got := phone.WaitFor("the message", isChat("to the phone"))
	sid := got.Child(nsSID, "stanza-id")
	if sid == nil || sid.Attr("by") != "op@localhost" || sid.Attr("id") == "" {
		t.Errorf("delivered without the archive's stanza-id: %s", got)
	}
	c := desktop.WaitFor("received carbon", isCarbon("op@localhost", "received", "to the phone"))
	if m := carbonOf(c, "op@localhost", "received"); m.Attr("from") != "bob@localhost/"+bob.JID.Resourcepart() || m.Attr("id") != "m1" || c.Attr("type") != "chat" {
		t.Errorf("received carbon: %s", c)
	}
	noCarbon(t, phone, "the recipient itself")

	// What the phone sends, the desktop sees as a sent carbon.
	phone.Send("<message type='chat' to='bob@localhost' id='m2'><body>from the phone</body></message>")
	bob.WaitFor("bob gets it", isChat("from the phone"))
	c = desktop.WaitFor("sent carbon", isCarbon("op@localhost", "sent", "from the phone"))
	if m := carbonOf(c, "op@localhost", "sent"); m.Attr("to") != "bob@localhost" || m.Attr("from") != phone.JID.String() {
		t.Errorf("sent carbon: %s", c)
	}
	noCarbon(t, phone, "the sender itself")

	// A chat to the bare JID reaches both resources: no carbons.
	bob.Send("<message type='chat' to='op@localhost'><body>to both</body></message>")
	phone.WaitFor("phone", isChat("to both"))
	desktop.WaitFor("desktop", isChat("to both"))

	// Private messages, no-copy hints, groupchat and errors are not copied.
	phone.Send("<message type='chat' to='bob@localhost'><body>private</body><private xmlns='" + nsCarbons + "'/></message>")
	phone.Send("<message type='chat' to='bob@localhost'><body>no copy</body><no-copy xmlns='urn:xmpp:hints'/></message>")
	phone.Send("<message type='error' to='bob@localhost'><body>an error</body></message>")
	phone.Send("<message type='headline' to='bob@localhost/%s'><body>a headline</body></message>", bob.JID.Resourcepart())
	bob.WaitFor("the headline", isChat("a headline"))
	bob.Send("<message type='chat' to='op@localhost/%s'><body>private in</body><private xmlns='"+nsCarbons+"'/></message>", phone.JID.Resourcepart())
	phone.WaitFor("private in", isChat("private in"))
	noCarbon(t, desktop, "private, no-copy, error, headline")

	// Between the account's own resources: delivered, not copied.
	phone.Send("<message type='chat' to='%s'><body>note to self</body></message>", desktop.JID.String())
	desktop.WaitFor("note to self", isChat("note to self"))
	noCarbon(t, phone, "a message to the account's own resource")
	noCarbon(t, desktop, "a message from the account's own resource")

	// Disabled: no more carbons.
	ok(t, "disable", desktop.IQ("<iq type='set' id='ID'><disable xmlns='"+nsCarbons+"'/></iq>"))
	phone.Send("<message type='chat' to='bob@localhost'><body>after disable</body></message>")
	bob.WaitFor("bob", isChat("after disable"))
	noCarbon(t, desktop, "carbons disabled")

	// A get is not how carbons are switched.
	wantError(t, "carbons get", desktop.IQ("<iq type='get' id='ID'><enable xmlns='"+nsCarbons+"'/></iq>"), "bad-request", "")
}

func TestCarbonsBringAlertsAndCommandAnswersToEveryResource(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "op", devices.RoleOperator, "fleet")
	phone := loginAs(t, h, "op", pw, "phone")
	desktop := loginAs(t, h, "op", pw, "desktop")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	// The phone, in the background, says it takes no messages to the bare
	// JID (negative priority): alerts reach it as carbons.
	phone.Send("<presence><priority>-1</priority></presence>")
	desktop.Send("<presence/>")
	enableCarbons(t, phone)
	enableCarbons(t, desktop)

	// A chat command from the desktop: the phone sees the command and the
	// answer.
	desktop.Send("<message type='chat' to='geohub@localhost' id='c1'><body>help</body></message>")
	answer := desktop.WaitFor("answer", func(n *xmpptest.Node) bool {
		return n.Name() == "message" && n.Attr("id") == "c1" && n.Find("body") != nil
	})
	phone.WaitFor("sent carbon of the command", isCarbon("op@localhost", "sent", "help"))
	phone.WaitFor("received carbon of the answer", isCarbon("op@localhost", "received", answer.Find("body").Text))

	// An alert to the operator's bare JID: the desktop gets it, the phone
	// a carbon of it.
	addFence(t, h, `{"type":"Feature","properties":{"name":"Depot","radius":200,"groups":["fleet"],
		"events":["enter"],"notify":["op@localhost"]},"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)
	ok(t, "outside", publishGeoloc(car, "f1", 52.50, 13.40))
	ok(t, "inside", publishGeoloc(car, "f2", 52.5101, 13.4001))
	alert := desktop.WaitFor("alert", isAlertMessage)
	c := phone.WaitFor("alert carbon", func(n *xmpptest.Node) bool {
		m := carbonOf(n, "op@localhost", "received")
		return m != nil && alertOf(m) != nil
	})
	if m := carbonOf(c, "op@localhost", "received"); m.Find("body").Text != alert.Find("body").Text || m.Attr("from") != "geohub@localhost/hub" {
		t.Errorf("alert carbon %s, alert %s", c, alert)
	}
	noCarbon(t, desktop, "the desktop got the alert itself")
}

func hasFeature(info *xmpptest.Node, feature string) bool {
	for _, f := range info.Find("query").All("feature") {
		if f.Attr("var") == feature {
			return true
		}
	}
	return false
}
