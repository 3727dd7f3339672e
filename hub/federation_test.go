package hub_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/testca"
	"github.com/geohub/geohub/internal/xmpptest"
)

// fedHub is a test hub at its own domain that federates with the others
// of the same test over loopback, each trusting one test CA.
type fedHub struct {
	*hubtest.Hub
	domain    string
	client    *tls.Config
	passwords map[string]string // of the accounts login made
}

// startFederated starts one hub per domain; hosts maps each domain to its
// s2s listener. configure may change each hub's federation settings.
func startFederated(t *testing.T, ca *testca.CA, hosts map[string]string, domains []string, configure ...func(*hub.Config)) []*fedHub {
	t.Helper()
	var out []*fedHub
	for _, d := range domains {
		cert, _, _, err := ca.Issue(d)
		if err != nil {
			t.Fatal(err)
		}
		h := hubtest.Start(t, func(c *hub.Config) {
			c.Domain = d
			c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			c.Federation = &hub.FederationConfig{Listen: "127.0.0.1:0", Roots: ca.Pool(), Hosts: hosts}
			for _, f := range configure {
				f(c)
			}
		})
		// Written before any stanza crosses: no stream is opened yet.
		hosts[d] = h.FederationAddr()
		out = append(out, &fedHub{Hub: h, domain: d, client: &tls.Config{RootCAs: ca.Pool(), ServerName: d}, passwords: map[string]string{}})
	}
	return out
}

func (h *fedHub) login(t *testing.T, name string, role devices.Role, groups ...string) *xmpptest.Client {
	t.Helper()
	pw := h.Account(t, name, role, groups...)
	h.passwords[name] = pw
	c := xmpptest.Dial(t, xmpptest.Options{Addr: h.Addr, TLS: h.client}, name, pw)
	c.Send("<presence/>")
	c.Sync()
	return c
}

func newTestCA(t *testing.T) *testca.CA {
	ca, err := testca.New("GeoHub test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestFederationMessagesAndIQsBothWays(t *testing.T) {
	hubs := startFederated(t, newTestCA(t), map[string]string{}, []string{"a.test", "b.test"})
	alice := hubs[0].login(t, "alice", devices.RoleOperator)
	bob := hubs[1].login(t, "bob", devices.RoleOperator)

	alice.Send("<message to='bob@b.test' type='chat' id='m1'><body>hello b</body></message>")
	m := bob.WaitFor("alice's message", func(n *xmpptest.Node) bool { return n.Name() == "message" })
	if m.Attr("from") != alice.JID.String() || m.Find("body").Text != "hello b" {
		t.Fatalf("bob got %s", m)
	}
	bob.Send("<message to='%s' type='chat'><body>hello a</body></message>", alice.JID)
	m = alice.WaitFor("bob's answer", func(n *xmpptest.Node) bool { return n.Name() == "message" })
	if m.Attr("from") != bob.JID.String() || m.Find("body").Text != "hello a" {
		t.Fatalf("alice got %s", m)
	}

	// An IQ to a remote full JID reaches the client, and its answer comes back.
	alice.Send("<iq type='get' id='q1' to='%s'><query xmlns='jabber:iq:version'/></iq>", bob.JID)
	q := bob.WaitFor("the IQ", func(n *xmpptest.Node) bool { return n.Name() == "iq" && n.Attr("id") == "q1" })
	if q.Attr("from") != alice.JID.String() {
		t.Fatalf("bob got %s", q)
	}
	bob.Send("<iq type='result' id='q1' to='%s'><query xmlns='jabber:iq:version'><name>bob</name></query></iq>", alice.JID)
	r := alice.WaitFor("the answer", func(n *xmpptest.Node) bool { return n.Name() == "iq" && n.Attr("id") == "q1" })
	if r.Attr("type") != "result" || r.Attr("from") != bob.JID.String() {
		t.Fatalf("alice got %s", r)
	}

	// The remote domain answers a ping itself; a roster request is not
	// answered for a remote JID.
	r = alice.IQ("<iq type='get' id='ID' to='b.test'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r.Attr("type") != "result" || r.Attr("from") != "b.test" {
		t.Fatalf("ping b.test: %s", r)
	}
	r = alice.IQ("<iq type='get' id='ID' to='b.test'><query xmlns='jabber:iq:roster'/></iq>")
	if r.ErrorCondition() != "service-unavailable" {
		t.Fatalf("roster of b.test for a remote JID: %s", r)
	}
}

func TestFederationRemoteJIDHasNoRights(t *testing.T) {
	hubs := startFederated(t, newTestCA(t), map[string]string{}, []string{"a.test", "b.test"})
	mallory := hubs[0].login(t, "mallory", devices.RoleAdmin) // an admin at a.test only
	mallory.Send("<message to='geohub@b.test' type='chat' id='c1'><body>where car-17</body></message>")
	e := mallory.WaitFor("the answer", func(n *xmpptest.Node) bool { return n.Attr("id") == "c1" })
	if e.Attr("type") != "error" || e.ErrorCondition() != "forbidden" || e.Attr("from") != "geohub@b.test" {
		t.Fatalf("a chat command from another domain: %s", e)
	}
}

func TestFederationBounces(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	hosts := map[string]string{"gone.test": closed}
	hubs := startFederated(t, newTestCA(t), hosts, []string{"a.test"}, func(c *hub.Config) {
		c.Federation.Deny = []string{"denied.test"}
	})
	alice := hubs[0].login(t, "alice", devices.RoleOperator)
	for _, c := range []struct{ to, cond string }{
		{"x@gone.test", "remote-server-not-found"},
		{"x@denied.test", "remote-server-not-found"},
	} {
		alice.Send("<message to='%s' type='chat' id='b-%s'><body>hi</body></message>", c.to, c.to)
		e := alice.WaitFor("the bounce", func(n *xmpptest.Node) bool { return n.Attr("id") == "b-"+c.to })
		if e.Attr("type") != "error" || e.ErrorCondition() != c.cond || e.Attr("from") != c.to {
			t.Errorf("to %s: %s", c.to, e)
		}
	}
	r := alice.IQ("<iq type='get' id='ID' to='x@gone.test/r'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r.ErrorCondition() != "remote-server-not-found" {
		t.Errorf("IQ to an unreachable domain: %s", r)
	}
	if strings.Contains(hubs[0].FederationAddr(), ":0") {
		t.Error("no listener")
	}
}

// An operator at a.test made a remote operator of b.test's fleet gets the
// fleet's geofence alerts from b.test's contact and runs chat commands
// there; removed, it has no rights any more.
func TestFederationRemoteOperator(t *testing.T) {
	hubs := startFederated(t, newTestCA(t), map[string]string{}, []string{"a.test", "b.test"})
	a, b := hubs[0], hubs[1]
	alice := a.login(t, "alice", devices.RoleOperator)
	created, err := b.Accounts.Add(devices.NewAccount{Name: "Alice@A.test", Role: devices.RoleOperator, Groups: []string{"fleet"}})
	if err != nil {
		t.Fatal(err)
	}
	if created[0].Account.Name != "alice@a.test" || created[0].Password != "" {
		t.Fatalf("remote account: %+v", created[0])
	}
	car := b.login(t, "car", devices.RoleDevice, "fleet")
	addFence(t, b.Hub, `{"type":"Feature","properties":{"name":"Depot","radius":200,"groups":["fleet"],
		"events":["enter"],"notify":["alice@a.test"]},"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)
	ok(t, "outside", publishGeoloc(car, "f1", 52.50, 13.40))
	ok(t, "inside", publishGeoloc(car, "f2", 52.5101, 13.4001))
	m := alice.WaitFor("the alert from b.test", isAlertMessage)
	if m.Attr("from") != "geohub@b.test/hub" || alertOf(m).Attr("device") != "car@b.test" || alertOf(m).Attr("event") != "enter" {
		t.Errorf("alert: %s", m)
	}

	askB := func(id, command string) *xmpptest.Node {
		alice.Send("<message type='chat' to='geohub@b.test' id='%s'><body>%s</body></message>", id, command)
		return alice.WaitFor("answer to "+command, func(n *xmpptest.Node) bool { return n.Attr("id") == id })
	}
	if ans := askB("w1", "where car"); ans.Attr("type") != "chat" || !strings.Contains(ans.Find("body").Text, "car at geo:52.5101,13.4001") {
		t.Errorf("where car: %s", ans)
	}
	if err := b.Accounts.Remove("alice@a.test"); err != nil {
		t.Fatal(err)
	}
	if ans := askB("w2", "where car"); ans.ErrorCondition() != "forbidden" {
		t.Errorf("where car once removed: %s", ans)
	}
}

// A remote operator subscribes to a device of its fleet's geoloc node
// (XEP-0060 on the device's PEP service, XEP-0163) and gets its fixes;
// a remote JID without an account may not.
func TestFederationRemoteOperatorFollowsPEP(t *testing.T) {
	hubs := startFederated(t, newTestCA(t), map[string]string{}, []string{"a.test", "b.test"})
	a, b := hubs[0], hubs[1]
	alice := a.login(t, "alice", devices.RoleOperator)
	mallory := a.login(t, "mallory", devices.RoleAdmin)
	if _, err := b.Accounts.Add(devices.NewAccount{Name: "alice@a.test", Role: devices.RoleOperator, Groups: []string{"fleet"}}); err != nil {
		t.Fatal(err)
	}
	car := b.login(t, "car", devices.RoleDevice, "fleet")
	ok(t, "first fix", publishGeoloc(car, "f1", 52.52, 13.405))
	sub := "<iq type='set' id='ID' to='car@b.test'><pubsub xmlns='" + nsPubSub + "'><subscribe node='" + nsGeoloc + "' jid='%s'/></pubsub></iq>"
	if r := alice.IQ(fmt.Sprintf(sub, "alice@a.test")); r.Attr("type") != "result" {
		t.Fatalf("alice subscribes: %s", r)
	}
	if r := mallory.IQ(fmt.Sprintf(sub, "mallory@a.test")); r.Attr("type") != "error" {
		t.Fatalf("mallory subscribes: %s", r)
	}
	ok(t, "next fix", publishGeoloc(car, "f2", 52.53, 13.405))
	ev := alice.WaitFor("the notification", func(n *xmpptest.Node) bool {
		return isEventFrom("car@b.test")(n) && n.Find("event/items/item").Attr("id") == "f2"
	})
	if ev.Find("event/items").Attr("node") != nsGeoloc || ev.Find("event/items/item/geoloc/lat").Text != "52.53" {
		t.Errorf("notification: %s", ev)
	}
	for _, n := range mallory.Drain() {
		if n.Child("http://jabber.org/protocol/pubsub#event", "event") != nil {
			t.Errorf("mallory got %s", n)
		}
	}
}

// A remote operator hears its fleet's devices come and go, a probe tells
// it who is online, and its subscription to a device's presence is
// approved at once; a remote JID without an account learns nothing.
func TestFederationRemoteOperatorSeesPresence(t *testing.T) {
	hubs := startFederated(t, newTestCA(t), map[string]string{}, []string{"a.test", "b.test"})
	a, b := hubs[0], hubs[1]
	alice := a.login(t, "alice", devices.RoleOperator)
	mallory := a.login(t, "mallory", devices.RoleOperator)
	if _, err := b.Accounts.Add(devices.NewAccount{Name: "alice@a.test", Role: devices.RoleOperator, Groups: []string{"fleet"}}); err != nil {
		t.Fatal(err)
	}
	car := b.login(t, "car", devices.RoleDevice, "fleet")
	fromCar := func(typ string) func(*xmpptest.Node) bool {
		return func(n *xmpptest.Node) bool {
			return n.Name() == "presence" && n.Attr("from") == car.JID.String() && n.Attr("type") == typ
		}
	}
	alice.WaitFor("the car online", fromCar(""))

	alice.Send("<presence type='probe' to='car@b.test'/>")
	alice.WaitFor("the answer to the probe", fromCar(""))
	mallory.Send("<presence type='probe' to='car@b.test'/>")

	// Subscribing to the car's presence, alice is approved at once, as a
	// local operator of the fleet would be; mallory's request waits for
	// the car.
	alice.Send("<presence type='subscribe' to='car@b.test'/>")
	alice.WaitFor("the approval", func(n *xmpptest.Node) bool {
		return n.Name() == "presence" && n.Attr("from") == "car@b.test" && n.Attr("type") == "subscribed"
	})
	mallory.Send("<presence type='subscribe' to='car@b.test'/>")
	car.WaitFor("mallory's request", func(n *xmpptest.Node) bool {
		return n.Name() == "presence" && n.Attr("from") == "mallory@a.test" && n.Attr("type") == "subscribe"
	})

	car.Send("<presence type='unavailable'/>")
	alice.WaitFor("the car gone", fromCar("unavailable"))
	for _, n := range mallory.Drain() {
		if n.Name() == "presence" && strings.HasPrefix(n.Attr("from"), "car@") {
			t.Errorf("mallory learnt %s", n)
		}
	}
}

// Presence subscriptions across domains (RFC 6121 §3): alice@a.test asks
// bob@b.test, bob approves, and alice sees bob's presence from then on,
// also after she logs in again.
func TestFederationPresenceSubscription(t *testing.T) {
	hubs := startFederated(t, newTestCA(t), map[string]string{}, []string{"a.test", "b.test"})
	a, b := hubs[0], hubs[1]
	alice := a.login(t, "alice", devices.RoleOperator)
	bob := b.login(t, "bob", devices.RoleOperator)
	alice.IQ("<iq type='get' id='ID'><query xmlns='jabber:iq:roster'/></iq>") // she gets roster pushes
	alice.Send("<presence type='subscribe' to='bob@b.test'/>")
	req := bob.WaitFor("the request", func(n *xmpptest.Node) bool { return n.Name() == "presence" && n.Attr("type") == "subscribe" })
	if req.Attr("from") != "alice@a.test" {
		t.Fatalf("request: %s", req)
	}
	bob.Send("<presence type='subscribed' to='alice@a.test'/>")
	alice.WaitFor("the approval", func(n *xmpptest.Node) bool {
		return n.Name() == "presence" && n.Attr("type") == "subscribed" && n.Attr("from") == "bob@b.test"
	})
	alice.WaitFor("the roster push of the approval", func(n *xmpptest.Node) bool {
		it := n.Find("query/item")
		return n.Name() == "iq" && it.Attr("jid") == "bob@b.test" && it.Attr("subscription") == "to" && it.Attr("ask") == ""
	})
	alice.WaitFor("bob's presence", func(n *xmpptest.Node) bool {
		return n.Name() == "presence" && n.Attr("from") == bob.JID.String() && n.Attr("type") == ""
	})
	bob.Send("<presence><show>away</show></presence>")
	alice.WaitFor("bob away", func(n *xmpptest.Node) bool {
		return n.Name() == "presence" && n.Attr("from") == bob.JID.String() && n.Find("show").Text == "away"
	})
	// A new resource of alice probes bob's server and learns he is online.
	alice2 := xmpptest.Dial(t, xmpptest.Options{Addr: a.Addr, TLS: a.client}, "alice", a.passwords["alice"])
	alice2.Send("<presence/>")
	alice2.WaitFor("bob's presence at login", func(n *xmpptest.Node) bool {
		return n.Name() == "presence" && n.Attr("from") == bob.JID.String() && n.Find("show").Text == "away"
	})
}
