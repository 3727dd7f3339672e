package hub_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmpptest"
)

// The hub's own JID with the test hub's defaults.
const (
	hubBare = "geohub@localhost"
	hubFull = "geohub@localhost/hub"
)

// askAt sends a chat command to the address to and returns the answer.
func askAt(c *xmpptest.Client, to, command string) *xmpptest.Node {
	id := c.ID()
	c.Send("<message type='chat' to='%s' id='%s'><body>%s</body></message>", to, id, command)
	return c.WaitFor("answer to "+command, func(n *xmpptest.Node) bool { return n.Name() == "message" && n.Attr("id") == id })
}

func TestHubContactInOperatorRosters(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	admin := h.Login(t, "boss", devices.RoleAdmin)
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	for _, c := range []*xmpptest.Client{op, admin} {
		items, _ := rosterItems(t, c)
		it := items[hubBare]
		if it == nil || it.Attr("subscription") != "both" || it.Attr("name") != "GeoHub" || it.Attr("ask") != "" ||
			it.Find("group") == nil || it.Find("group").Text != "GeoHub" {
			t.Errorf("%s's roster: %v, want %s (both, GeoHub)", c.JID, items, hubBare)
		}
	}
	if items, _ := rosterItems(t, car); items[hubBare] != nil {
		t.Errorf("a device has the hub in its roster: %v", items)
	}
	// The contact cannot be removed; it may be renamed and regrouped.
	res := op.IQ("<iq type='set' id='ID'><query xmlns='jabber:iq:roster'><item jid='" + hubBare + "' subscription='remove'/></query></iq>")
	wantError(t, "removing the hub", res, "not-allowed", "")
	ok(t, "renaming the hub", op.IQ("<iq type='set' id='ID'><query xmlns='jabber:iq:roster'><item jid='"+hubBare+"' name='Fleet bot'><group>Ops</group></item></query></iq>"))
	push := op.WaitFor("rename push", isRosterPush(hubBare))
	if it := push.Find("query/item"); it.Attr("name") != "Fleet bot" || it.Attr("subscription") != "both" || it.Find("group").Text != "Ops" {
		t.Errorf("push after renaming: %s", push)
	}
	// An unsubscribe changes nothing: a push says so.
	op.Send("<presence type='unsubscribe' to='%s'/>", hubBare)
	if push := op.WaitFor("push after unsubscribe", isRosterPush(hubBare)); push.Find("query/item").Attr("subscription") != "both" {
		t.Errorf("push after unsubscribe: %s", push)
	}
	// A subscribe is approved at once.
	op.Send("<presence/>")
	op.WaitFor("hub presence", isPresenceFrom(hubFull, ""))
	op.Send("<presence type='subscribe' to='%s'/>", hubBare)
	op.WaitFor("approval", isPresenceFrom(hubBare, "subscribed"))
	op.WaitFor("hub presence after subscribe", isPresenceFrom(hubFull, ""))
}

func TestHubContactFollowsRoleChanges(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "pat", devices.RoleDevice)
	pat := xmpptest.Dial(t, h.Options(), "pat", pw)
	rosterItems(t, pat)
	pat.Send("<presence/>")
	pat.Sync()

	promote := func(r devices.Role) {
		t.Helper()
		if _, err := h.Accounts.Update("pat", func(a *devices.Account) error { a.Role = r; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	promote(devices.RoleOperator)
	push := pat.WaitFor("push on promotion", isRosterPush(hubBare))
	if push.Find("query/item").Attr("subscription") != "both" {
		t.Errorf("push on promotion: %s", push)
	}
	pat.WaitFor("hub presence on promotion", isPresenceFrom(hubFull, ""))

	promote(devices.RoleDevice)
	push = pat.WaitFor("push on demotion", func(n *xmpptest.Node) bool {
		return isRosterPush(hubBare)(n) && n.Find("query/item").Attr("subscription") == "remove"
	})
	pat.WaitFor("hub unavailable on demotion", isPresenceFrom(hubFull, "unavailable"))
	if items, _ := rosterItems(t, pat); items[hubBare] != nil {
		t.Errorf("the demoted account still has the hub: %v (push %s)", items, push)
	}
}

func TestHubPresenceAtLoginProbeAndShutdown(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator)
	car := h.Login(t, "car", devices.RoleDevice)
	op.Send("<presence/>")
	p := op.WaitFor("hub presence at login", isPresenceFrom(hubFull, ""))
	if p.Attr("to") != op.JID.String() || !strings.Contains(p.Find("status").Text, "help") {
		t.Errorf("hub presence: %s", p)
	}
	op.Send("<presence type='probe' to='%s'/>", hubBare)
	op.WaitFor("hub presence on probe", isPresenceFrom(hubFull, ""))

	// Devices are not told, and a probe from one gets nothing.
	car.Send("<presence/>")
	car.Send("<presence type='probe' to='%s'/>", hubBare)
	for _, n := range car.Drain() {
		if n.Attr("from") == hubFull || n.Attr("from") == hubBare {
			t.Errorf("a device got %s", n)
		}
	}

	h.Stop()
	op.WaitFor("hub unavailable at shutdown", isPresenceFrom(hubFull, "unavailable"))
	if err := op.Ended(); xmpptest.StreamErrorCondition(err) != "system-shutdown" {
		t.Errorf("stream end: %v", err)
	}
}

func TestChatCommandsAtTheHubJID(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator)
	for _, to := range []string{hubBare, hubFull, hubBare + "/other"} {
		m := askAt(op, to, "help")
		if m.Attr("from") != hubFull || m.Attr("to") != op.JID.String() || m.Attr("type") != "chat" ||
			!strings.Contains(m.Find("body").Text, "where [DEVICE]") {
			t.Errorf("help at %s: %s", to, m)
		}
	}
	// The domain keeps answering, from itself.
	if m := askAt(op, "localhost", "help"); m.Attr("from") != "localhost" || !strings.Contains(m.Find("body").Text, "where [DEVICE]") {
		t.Errorf("help at the domain: %s", m)
	}
	// Devices get an error from the address they wrote to.
	car := h.Login(t, "car", devices.RoleDevice)
	if m := askAt(car, hubBare, "where"); m.Attr("type") != "error" || m.ErrorCondition() != "forbidden" || m.Attr("from") != hubBare {
		t.Errorf("a device's command: %s", m)
	}
}

func TestHubJIDAnswersDiscoPingVersion(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Version = "1.2.3" })
	op := h.Login(t, "op", devices.RoleOperator)
	car := h.Login(t, "car", devices.RoleDevice)
	for _, to := range []string{hubBare, hubFull} {
		res := ok(t, "disco#info at "+to, op.IQ("<iq type='get' id='ID' to='"+to+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
		id := res.Find("query/identity")
		if res.Attr("from") != to || id == nil || id.Attr("category") != "client" || id.Attr("type") != "bot" || id.Attr("name") != "GeoHub" {
			t.Errorf("disco#info at %s: %s", to, res)
		}
		var features []string
		for _, f := range res.Find("query").All("feature") {
			features = append(features, f.Attr("var"))
		}
		if got := strings.Join(features, " "); got != "http://jabber.org/protocol/disco#info http://jabber.org/protocol/disco#items jabber:iq:version urn:xmpp:ping" {
			t.Errorf("features at %s: %s", to, got)
		}
		ok(t, "ping at "+to, car.IQ("<iq type='get' id='ID' to='"+to+"'><ping xmlns='urn:xmpp:ping'/></iq>"))
		v := ok(t, "version at "+to, op.IQ("<iq type='get' id='ID' to='"+to+"'><query xmlns='jabber:iq:version'/></iq>"))
		if v.Find("query/name").Text != "GeoHub" || v.Find("query/version").Text != "1.2.3" || v.Attr("from") != to {
			t.Errorf("version at %s: %s", to, v)
		}
	}
	for _, c := range []struct{ what, iq, cond string }{
		{"vCard", "<iq type='get' id='ID' to='" + hubBare + "'><vCard xmlns='vcard-temp'/></iq>", "item-not-found"},
		{"PEP items", "<iq type='get' id='ID' to='" + hubBare + "'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsGeoloc + "'/></pubsub></iq>", "item-not-found"},
		{"roster", "<iq type='get' id='ID' to='" + hubBare + "'><query xmlns='jabber:iq:roster'/></iq>", "service-unavailable"},
		{"a set", "<iq type='set' id='ID' to='" + hubFull + "'><query xmlns='jabber:iq:version'/></iq>", "service-unavailable"},
		{"another resource", "<iq type='get' id='ID' to='" + hubBare + "/other'><ping xmlns='urn:xmpp:ping'/></iq>", "service-unavailable"},
		{"a node", "<iq type='get' id='ID' to='" + hubFull + "'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>", "item-not-found"},
		{"two children", "<iq type='get' id='ID' to='" + hubFull + "'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request"},
	} {
		res := op.IQ(c.iq)
		to := res.Attr("from")
		if res.Attr("type") != "error" || res.ErrorCondition() != c.cond || res.Attr("to") != op.JID.String() ||
			!strings.HasPrefix(to, hubBare) || res.Find("error").Attr("type") == "" {
			t.Errorf("%s: %s, want %s from the hub's JID", c.what, res, c.cond)
		}
	}
}

func TestHubNameIsReservedAndConfigurable(t *testing.T) {
	h := hubtest.Start(t)
	if _, err := h.Accounts.Add(devices.NewAccount{Name: "GeoHub", Role: devices.RoleOperator}); !errors.Is(err, devices.ErrReserved) {
		t.Errorf("creating geohub: %v, want ErrReserved", err)
	}
	opPW := h.Account(t, "op", devices.RoleOperator)
	h.Account(t, "tracker", devices.RoleDevice)

	// A hub name an account holds is refused at start.
	commit := store.NewCommitter(h.DB)
	defer commit.Close()
	if _, err := hub.New(hub.Config{AllowPlain: true, Commit: commit, HubName: "tracker"}, h.DB, h.Accounts); err == nil || !strings.Contains(err.Error(), "tracker@localhost") {
		t.Errorf("starting with an account's name: %v", err)
	}

	h = hubtest.Restart(t, h, func(c *hub.Config) { c.HubName = "bot" })
	if _, err := h.Accounts.Add(devices.NewAccount{Name: "bot"}); !errors.Is(err, devices.ErrReserved) {
		t.Errorf("creating the configured hub name: %v", err)
	}
	h.Account(t, "geohub", devices.RoleDevice) // free again
	op := xmpptest.Dial(t, h.Options(), "op", opPW)
	items, _ := rosterItems(t, op)
	if items["bot@localhost"] == nil || items["geohub@localhost"] != nil {
		t.Errorf("roster with the hub named bot: %v", items)
	}
	op.Send("<presence/>")
	op.WaitFor("bot presence", isPresenceFrom("bot@localhost/hub", ""))
	if m := askAt(op, "bot@localhost", "help"); m.Attr("from") != "bot@localhost/hub" {
		t.Errorf("answer: %s", m)
	}
	// A restart without a name keeps the one remembered.
	h = hubtest.Restart(t, h)
	op = xmpptest.Dial(t, h.Options(), "op", opPW)
	if items, _ := rosterItems(t, op); items["bot@localhost"] == nil {
		t.Errorf("roster after a restart without a name: %v", items)
	}
}

// An operator who blocks the hub's JID (XEP-0191) sees it go offline, gets
// no alerts from it and may not send it commands, until it unblocks it.
func TestBlockingTheHubJID(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	addFence(t, h, `{"type":"Feature","properties":{"name":"Yard","radius":100,"events":["enter","exit"],"notify":["op@localhost"]},
		"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)
	ok(t, "subscribe to alerts", ps(op, "set", nsPubSub, "<subscribe node='alerts/group/fleet' jid='op@localhost'/>"))
	op.Send("<presence/>")
	op.WaitFor("hub presence", isPresenceFrom(hubFull, ""))

	mustResult(t, "block", blockIQ(op, "block", hubBare))
	op.WaitFor("hub unavailable after the block", isPresenceFrom(hubFull, "unavailable"))
	if m := askAt(op, hubBare, "help"); !blockedError(m) {
		t.Errorf("a command to the blocked hub: %s", m)
	}
	ok(t, "inside", publishGeoloc(car, "f1", 52.51, 13.40))
	// The alert's pubsub item follows its chat message: once it is here,
	// a message would be too.
	op.WaitFor("enter item", isEventFrom("pubsub.localhost"))
	for _, n := range op.Drain() {
		if isAlertMessage(n) || n.Attr("from") == hubFull {
			t.Errorf("the blocked hub sent %s", n)
		}
	}

	mustResult(t, "unblock", blockIQ(op, "unblock", hubBare))
	op.WaitFor("hub presence after the unblock", isPresenceFrom(hubFull, ""))
	ok(t, "outside", publishGeoloc(car, "f2", 52.52, 13.40))
	if m := op.WaitFor("exit alert", isAlertMessage); m.Attr("from") != hubFull || alertOf(m).Attr("event") != "exit" {
		t.Errorf("alert after the unblock: %s", m)
	}
}
