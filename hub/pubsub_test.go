package hub_test

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

const (
	nsPubSub      = "http://jabber.org/protocol/pubsub"
	nsPubSubOwner = "http://jabber.org/protocol/pubsub#owner"
	nsGeoloc      = "http://jabber.org/protocol/geoloc"
	nsErrors      = "http://jabber.org/protocol/pubsub#errors"
)

func geoloc(lat, lon float64) string {
	return fmt.Sprintf("<geoloc xmlns='%s'><lat>%v</lat><lon>%v</lon><accuracy>5</accuracy></geoloc>", nsGeoloc, lat, lon)
}

// publishGeoloc publishes to the sender's own PEP geoloc node.
func publishGeoloc(c *xmpptest.Client, id string, lat, lon float64) *xmpptest.Node {
	return c.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='%s'><publish node='%s'><item id='%s'>%s</item></publish></pubsub></iq>",
		nsPubSub, nsGeoloc, id, geoloc(lat, lon)))
}

// announceCaps sends available presence with XEP-0115 capabilities for
// features, answers the hub's disco#info question about them, and waits
// until the hub has taken the answer in.
func announceCaps(t *testing.T, c *xmpptest.Client, features ...string) {
	t.Helper()
	caps := newTestCaps(features...)
	c.Send("%s", caps.presence())
	caps.answer(t, c, c.JID.Domainpart())
	c.Sync()
}

// testCaps is what a test client announces through XEP-0115: the
// verification string and the disco#info query it stands for.
type testCaps struct{ ver, query string }

func newTestCaps(features ...string) testCaps {
	features = append(features, "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/caps")
	slices.Sort(features)
	ver := capsVer("client/pc//GeoHub test", features)
	query := "<query xmlns='http://jabber.org/protocol/disco#info' node='https://geohub.test#" + ver + "'><identity category='client' type='pc' name='GeoHub test'/>"
	for _, f := range features {
		query += "<feature var='" + f + "'/>"
	}
	return testCaps{ver, query + "</query>"}
}

// presence is available presence carrying the caps.
func (tc testCaps) presence() string {
	return "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://geohub.test' ver='" + tc.ver + "'/></presence>"
}

// answer waits for asker's disco#info question about the caps and
// answers it.
func (tc testCaps) answer(t *testing.T, c *xmpptest.Client, asker string) {
	t.Helper()
	q := c.WaitFor("caps query from "+asker, func(n *xmpptest.Node) bool {
		return n.Find("query") != nil && n.Attr("type") == "get" && n.Attr("from") == asker
	})
	if q.Find("query").Attr("node") != "https://geohub.test#"+tc.ver {
		t.Fatalf("caps query: %s", q)
	}
	c.Send("<iq type='result' to='%s' id='%s'>%s</iq>", q.Attr("from"), q.Attr("id"), tc.query)
}

// capsVer is the XEP-0115 verification string for one identity
// ("category/type/lang/name") and sorted features.
func capsVer(identity string, features []string) string {
	s := identity + "<"
	for _, f := range features {
		s += f + "<"
	}
	sum := sha1.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func isEventFrom(from string) func(*xmpptest.Node) bool {
	return func(n *xmpptest.Node) bool {
		return n.Name() == "message" && n.Attr("from") == from && n.Child("http://jabber.org/protocol/pubsub#event", "event") != nil
	}
}

func appCondition(n *xmpptest.Node) string {
	for _, c := range n.Child("", "error").Nodes {
		if c.XMLName.Space == nsErrors {
			return c.XMLName.Local
		}
	}
	return ""
}

func TestPEPGeolocReachesInterestedContactsAndTheStore(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	plain := h.Login(t, "plain", devices.RoleOperator, "fleet") // no +notify
	announceCaps(t, op, nsGeoloc+"+notify")
	plain.Send("<presence/>")
	car.Send("<presence/>")
	car.Drain()

	res := publishGeoloc(car, "fix1", 52.5200, 13.4050)
	if res.Attr("type") != "result" || res.Find("pubsub/publish/item").Attr("id") != "fix1" {
		t.Fatalf("publish: %s", res)
	}
	ev := op.WaitFor("geoloc event", isEventFrom("car@localhost"))
	item := ev.Find("event/items/item")
	if ev.Find("event/items").Attr("node") != nsGeoloc || item.Attr("id") != "fix1" || item.Find("geoloc/lat").Text != "52.52" {
		t.Errorf("event: %s", ev)
	}
	if ev.Attr("type") != "headline" || ev.Attr("to") != op.JID.String() {
		t.Errorf("event addressing: %s", ev)
	}
	for _, n := range plain.Drain() {
		if isEventFrom("car@localhost")(n) {
			t.Errorf("a contact without geoloc+notify got the event: %s", n)
		}
	}
	p, ok := h.Geo.Latest("car@localhost")
	if !ok || p.Lat != 52.52 || p.Lon != 13.405 || p.Source != "pep" || *p.Geoloc.Accuracy != 5 {
		t.Errorf("stored position: %+v %v", p, ok)
	}

	// A contact reads the node; so does the owner. A stranger may not.
	items := op.IQ("<iq type='get' id='ID' to='car@localhost'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsGeoloc + "'/></pubsub></iq>")
	if items.Find("pubsub/items/item").Attr("id") != "fix1" {
		t.Errorf("contact reads: %s", items)
	}
	stranger := h.Login(t, "stranger", devices.RoleOperator, "elsewhere")
	res = stranger.IQ("<iq type='get' id='ID' to='car@localhost'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsGeoloc + "'/></pubsub></iq>")
	if res.ErrorCondition() != "not-authorized" || appCondition(res) != "presence-subscription-required" {
		t.Errorf("stranger reads: %s", res)
	}
	res = stranger.IQ("<iq type='set' id='ID' to='car@localhost'><pubsub xmlns='" + nsPubSub + "'><subscribe node='" + nsGeoloc + "' jid='stranger@localhost'/></pubsub></iq>")
	if res.ErrorCondition() != "not-authorized" {
		t.Errorf("stranger subscribes: %s", res)
	}
}

func TestInvalidGeolocIsRefusedAndNotStored(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	announceCaps(t, op, nsGeoloc+"+notify")
	publishGeoloc(car, "good", 10, 20)
	op.WaitFor("first event", isEventFrom("car@localhost"))
	for _, tc := range []struct{ payload, field string }{
		{geoloc(95, 20), "lat"},
		{geoloc(10, 200), "lon"},
		{"<geoloc xmlns='" + nsGeoloc + "'><lat>1</lat><lon>2</lon><speed>-5</speed></geoloc>", "speed"},
		{"<geoloc xmlns='" + nsGeoloc + "'><lat>1</lat><lon>2</lon><timestamp>not-a-time</timestamp></geoloc>", "timestamp"},
	} {
		res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='" + nsPubSub + "'><publish node='" + nsGeoloc + "'><item id='bad'>" + tc.payload + "</item></publish></pubsub></iq>")
		text := res.Find("error/text")
		if res.ErrorCondition() != "bad-request" || text == nil || !strings.Contains(text.Text, tc.field) {
			t.Errorf("%s: %s", tc.field, res)
		}
	}
	for _, n := range op.Drain() {
		if isEventFrom("car@localhost")(n) {
			t.Errorf("an invalid item was forwarded: %s", n)
		}
	}
	if p, _ := h.Geo.Latest("car@localhost"); p.Lat != 10 {
		t.Errorf("an invalid item was stored: %+v", p)
	}
	items := car.IQ("<iq type='get' id='ID'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsGeoloc + "'/></pubsub></iq>")
	if got := items.Find("pubsub/items").All("item"); len(got) != 1 || got[0].Attr("id") != "good" {
		t.Errorf("items after refusals: %s", items)
	}
}

func TestOnlyTheOwnerPublishesToPEP(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	h.Account(t, "car", devices.RoleDevice, "fleet")
	res := op.IQ("<iq type='set' id='ID' to='car@localhost'><pubsub xmlns='" + nsPubSub + "'><publish node='" + nsGeoloc + "'><item>" + geoloc(1, 1) + "</item></publish></pubsub></iq>")
	if res.ErrorCondition() != "forbidden" {
		t.Errorf("publishing to another account's PEP: %s", res)
	}
	if _, ok := h.Geo.Latest("car@localhost"); ok {
		t.Error("a position was stored for car")
	}
}

func TestLastPEPItemArrivesAtLogin(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "op", devices.RoleOperator, "fleet")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	publishGeoloc(car, "old", 1, 1)
	publishGeoloc(car, "new", 2, 2)
	op := xmpptest.Dial(t, h.Options(), "op", pw)
	announceCaps(t, op, nsGeoloc+"+notify")
	ev := op.WaitFor("last item", isEventFrom("car@localhost"))
	if ev.Find("event/items/item").Attr("id") != "new" {
		t.Errorf("last item: %s", ev)
	}
}

func TestCapsThatDoNotVerifyGetNoNotifications(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	op.Send("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='bm90IGEgaGFzaA=='/></presence>")
	q := op.WaitFor("caps query", func(n *xmpptest.Node) bool { return n.Find("query") != nil })
	op.Send("<iq type='result' to='localhost' id='%s'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='pc'/><feature var='%s+notify'/></query></iq>", q.Attr("id"), nsGeoloc)
	op.Drain()
	publishGeoloc(car, "x", 3, 3)
	for _, n := range op.Drain() {
		if isEventFrom("car@localhost")(n) {
			t.Errorf("notification despite a forged hash: %s", n)
		}
	}
}

func TestPublishOptionsPreconditions(t *testing.T) {
	h := hubtest.Start(t)
	car := h.Login(t, "car", devices.RoleDevice)
	opts := func(access string) string {
		return "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>" +
			"<field var='pubsub#access_model'><value>" + access + "</value></field></x></publish-options>"
	}
	publish := func(node, access string) *xmpptest.Node {
		return car.IQ("<iq type='set' id='ID'><pubsub xmlns='" + nsPubSub + "'><publish node='" + node + "'><item>" + geoloc(1, 1) + "</item></publish>" + opts(access) + "</pubsub></iq>")
	}
	// A new node is created with the options.
	if res := publish("urn:example:open", "open"); res.Attr("type") != "result" {
		t.Fatalf("publish creating an open node: %s", res)
	}
	stranger := h.Login(t, "stranger", devices.RoleOperator)
	res := stranger.IQ("<iq type='get' id='ID' to='car@localhost'><pubsub xmlns='" + nsPubSub + "'><items node='urn:example:open'/></pubsub></iq>")
	if res.Attr("type") != "result" {
		t.Errorf("reading an open PEP node: %s", res)
	}
	// An existing node that does not match refuses the publish.
	publishGeoloc(car, "a", 1, 1)
	res = publish(nsGeoloc, "open")
	if res.ErrorCondition() != "conflict" || appCondition(res) != "precondition-not-met" {
		t.Errorf("mismatched options: %s", res)
	}
	if res := publish(nsGeoloc, "presence"); res.Attr("type") != "result" {
		t.Errorf("matching options: %s", res)
	}
}

func TestPEPAccessModelAppliesToNotifications(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	const node = "urn:example:secret"
	announceCaps(t, op, node+"+notify", nsGeoloc+"+notify")
	res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='" + nsPubSub + "'><publish node='" + node + "'><item><s xmlns='urn:example'>password</s></item></publish>" +
		"<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>" +
		"<field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("publish: %s", res)
	}
	publishGeoloc(car, "x", 1, 1) // an allowed event after it, as a marker
	op.WaitFor("geoloc event", func(n *xmpptest.Node) bool {
		return isEventFrom("car@localhost")(n) && n.Find("event/items").Attr("node") == nsGeoloc
	})
	for _, n := range op.Drain() {
		if isEventFrom("car@localhost")(n) && n.Find("event/items").Attr("node") == node {
			t.Errorf("a whitelist node's item reached a contact: %s", n)
		}
	}
}

func TestSubscriptionsFollowAccessChanges(t *testing.T) {
	h := hubtest.Start(t)
	owner := h.Login(t, "dispatch", devices.RoleOperator)
	pw := h.Account(t, "watcher", devices.RoleOperator)
	desktop := xmpptest.Dial(t, h.Options(), "watcher", pw)
	phone := xmpptest.Dial(t, h.Options(), "watcher", pw)
	desktop.Send("<presence/>")
	phone.Send("<presence/>")
	desktop.Sync()
	phone.Sync()
	publish := func(node, id string) {
		t.Helper()
		ok(t, "publish "+id, ps(owner, "set", nsPubSub, "<publish node='"+node+"'><item id='"+id+"'><x xmlns='urn:example'/></item></publish>"))
	}
	// Notifications go out in commit order: an event on the node tick marks
	// the point by which every earlier one has arrived.
	ok(t, "create", ps(owner, "set", nsPubSub, "<create node='news'/>"))
	ok(t, "create tick", ps(owner, "set", nsPubSub, "<create node='tick'/>"))
	ok(t, "tick subscription", ps(desktop, "set", nsPubSub, "<subscribe node='tick' jid='watcher@localhost'/>"))
	ok(t, "bare subscription", ps(desktop, "set", nsPubSub, "<subscribe node='news' jid='watcher@localhost'/>"))
	ok(t, "full subscription", ps(phone, "set", nsPubSub, "<subscribe node='news' jid='"+phone.JID.String()+"'/>"))
	newsEvents := func(c *xmpptest.Client, tick string) int {
		t.Helper()
		n := 0
		for {
			ev := c.WaitFor("tick "+tick, isEventFrom("pubsub.localhost"))
			switch ev.Find("event/items").Attr("node") {
			case "news":
				n++
			case "tick":
				if ev.Find("event/items/item").Attr("id") == tick {
					return n
				}
			}
		}
	}
	publish("news", "a")
	publish("tick", "t1")
	// Each resource gets the event once: the bare subscription reaches the
	// desktop although the phone has its own.
	for _, c := range []*xmpptest.Client{desktop, phone} {
		if n := newsEvents(c, "t1"); n != 1 {
			t.Errorf("%s got %d events, want 1", c.JID, n)
		}
	}
	// The node turns whitelist: the subscriptions go, and nothing more
	// arrives.
	ok(t, "whitelist", ps(owner, "set", nsPubSubOwner, "<configure node='news'>"+configForm(map[string]string{"access_model": "whitelist"})+"</configure>"))
	publish("news", "b")
	publish("tick", "t2")
	for _, c := range []*xmpptest.Client{desktop, phone} {
		if n := newsEvents(c, "t2"); n != 0 {
			t.Errorf("%s still notified after losing access: %d events", c.JID, n)
		}
	}
	subs := ok(t, "subscriptions", ps(owner, "get", nsPubSubOwner, "<subscriptions node='news'/>"))
	if subs.Find("pubsub/subscriptions/subscription") != nil {
		t.Errorf("subscriptions kept: %s", subs)
	}
	// Owners cannot subscribe others to what they may not read.
	res := ps(owner, "set", nsPubSubOwner, "<subscriptions node='news'><subscription jid='watcher@localhost' subscription='subscribed'/></subscriptions>")
	wantError(t, "subscribing a reader off the whitelist", res, "not-acceptable", "")
}

func TestPEPLimits(t *testing.T) {
	h := hubtest.Start(t)
	car := h.Login(t, "car", devices.RoleDevice)
	for i := range 64 {
		res := car.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='%s'><publish node='urn:n:%d'><item><x xmlns='urn:example'/></item></publish></pubsub></iq>", nsPubSub, i))
		if res.Attr("type") != "result" {
			t.Fatalf("node %d: %s", i, res)
		}
	}
	res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='" + nsPubSub + "'><publish node='urn:n:one-too-many'><item><x xmlns='urn:example'/></item></publish></pubsub></iq>")
	if res.ErrorCondition() != "resource-constraint" {
		t.Errorf("65th PEP node: %s", res)
	}
	res = car.IQ("<iq type='set' id='ID'><pubsub xmlns='" + nsPubSubOwner + "'><configure node='urn:n:0'>" + configForm(map[string]string{"max_items": "1000"}) + "</configure></pubsub></iq>")
	if res.ErrorCondition() != "not-acceptable" {
		t.Errorf("a PEP node keeping 1000 items: %s", res)
	}
}

func TestPEPDoesNotTellWhichAccountsExist(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator)
	h.Account(t, "private", devices.RoleDevice)
	ask := func(to string) string {
		items := op.IQ("<iq type='get' id='ID' to='" + to + "'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
		node := op.IQ("<iq type='get' id='ID' to='" + to + "'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsGeoloc + "'/></pubsub></iq>")
		return items.Attr("type") + "/" + items.ErrorCondition() + " " + node.Attr("type") + "/" + node.ErrorCondition()
	}
	if a, b := ask("private@localhost"), ask("nobody@localhost"); a != b {
		t.Errorf("an existing account answers %q, a missing one %q", a, b)
	}
}
