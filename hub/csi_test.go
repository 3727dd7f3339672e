package hub_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// While a client says it is inactive, notifications and presence wait for
// it, only the latest of each kept; a message goes out at once and takes
// them with it; <active/> sends what waits.
func TestCSIHoldsAndConflatesState(t *testing.T) {
	h := hubtest.Start(t, unlimited)
	pw := h.Account(t, "alice", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	desk := xmpptest.Dial(t, xmpptest.Options{Addr: h.Addr, TLS: h.ClientTLS, Resource: "desk"}, "alice", pw)
	desk.Send("<presence/>")
	a := bindSM(t, h.Addr, h.ClientTLS, "alice", pw, "phone")
	a.send("<presence/><iq type='set' id='create' to='pubsub.localhost'><pubsub xmlns='" + nsPubSub + "'><create node='fleet'/><configure>" +
		configForm(map[string]string{"access_model": "open", "publish_model": "open", "max_items": "10"}) + "</configure></pubsub></iq>")
	a.waitFor("create", func(n *xmpptest.Node) bool { return n.Attr("id") == "create" })
	a.send("<iq type='set' id='sub' to='pubsub.localhost'><pubsub xmlns='" + nsPubSub + "'><subscribe node='fleet' jid='alice@localhost/phone'/></pubsub></iq>")
	a.waitFor("subscribed", func(n *xmpptest.Node) bool { return n.Attr("id") == "sub" })

	publish := func(id string) {
		ok(t, "publish "+id, bob.IQ(fmt.Sprintf("<iq type='set' id='ID' to='pubsub.localhost'><pubsub xmlns='%s'><publish node='fleet'><item id='%s'>"+
			"<state xmlns='urn:geohub:test:vehicle'><seq>%s</seq></state></item></publish></pubsub></iq>", nsPubSub, id, id)))
	}
	status := func(s string) { desk.Send("<presence><status>%s</status></presence>", s) }
	sync := func(id string) {
		a.send("<iq type='get' id='" + id + "' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
		a.waitFor(id, func(n *xmpptest.Node) bool { return n.Attr("id") == id })
	}
	sync("before")
	start := len(a.dump())

	a.send("<inactive xmlns='urn:xmpp:csi:0'/>")
	sync("inactive") // the hub has read <inactive/>
	start = len(a.dump())
	publish("i1")
	publish("i2")
	status("s1")
	status("s2")
	publish("i3")
	desk.Send("<iq type='get' id='dsync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	desk.WaitFor("desk sync", func(n *xmpptest.Node) bool { return n.Attr("id") == "dsync" })
	a.send("<active xmlns='urn:xmpp:csi:0'/>")
	sync("after")
	got := a.dump()[start:]
	if strings.Contains(got, ">i1<") || strings.Contains(got, ">i2<") || strings.Contains(got, ">s1<") {
		t.Errorf("superseded state delivered: %s", got)
	}
	if !strings.Contains(got, ">i3<") || !strings.Contains(got, ">s2<") {
		t.Errorf("the latest state is missing: %s", got)
	}
	if i, j := strings.Index(got, ">i3<"), strings.Index(got, "id='after'"); i > j {
		t.Errorf("held state came after the ping: %s", got)
	}

	// A message is not held, and takes what waits with it, in order.
	start = len(a.dump())
	a.send("<inactive xmlns='urn:xmpp:csi:0'/>")
	sync("inactive again")
	start = len(a.dump())
	publish("i4")
	publish("i5")
	bob.Send("<message to='alice@localhost/phone' type='chat'><body>alert</body></message>")
	a.waitFor("the message", func(n *xmpptest.Node) bool { return n.Child("", "body") != nil && n.Child("", "body").Text == "alert" })
	got = a.dump()[start:]
	if strings.Contains(got, ">i4<") || !strings.Contains(got, ">i5<") || strings.Index(got, ">i5<") > strings.Index(got, ">alert<") {
		t.Errorf("inactive, then a message: %s", got)
	}
}
