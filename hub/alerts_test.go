package hub_test

import (
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	geo "github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

func addFence(t *testing.T, h *hubtest.Hub, feature string) *geo.Fence {
	t.Helper()
	fences, err := geo.ParseFences([]byte(feature))
	if err != nil {
		t.Fatal(err)
	}
	if fences, err = h.Geo.AddFences(fences, nil); err != nil {
		t.Fatal(err)
	}
	return fences[0]
}

func alertOf(n *xmpptest.Node) *xmpptest.Node { return n.Child(geo.NSAlert, "alert") }

func isAlertMessage(n *xmpptest.Node) bool {
	return n.Name() == "message" && n.Attr("type") == "chat" && alertOf(n) != nil
}

func TestGeofenceAlertsByMessageAndPubSub(t *testing.T) {
	h := hubtest.Start(t)
	online := h.Login(t, "online-op", devices.RoleOperator, "fleet")
	online.Send("<presence/>")
	offlinePW := h.Account(t, "offline-op", devices.RoleOperator, "fleet")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	depot := addFence(t, h, `{"type":"Feature","properties":{"name":"Depot <North>","radius":200,"groups":["fleet"],
		"events":["enter"],"notify":["online-op@localhost","offline-op@localhost"]},
		"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)

	// Operators read the alert nodes; devices do not.
	ok(t, "operator subscribes to its group's alerts", ps(online, "set", nsPubSub, "<subscribe node='alerts/group/fleet' jid='online-op@localhost'/>"))
	ok(t, "operator subscribes to the fence's alerts", ps(online, "set", nsPubSub, "<subscribe node='alerts/"+depot.ID+"' jid='online-op@localhost'/>"))
	wantError(t, "device subscribes to alerts", ps(car, "set", nsPubSub, "<subscribe node='alerts' jid='car@localhost'/>"), "not-allowed", "closed-node")

	ok(t, "outside", publishGeoloc(car, "f1", 52.50, 13.40))
	ok(t, "inside", publishGeoloc(car, "f2", 52.5101, 13.4001))

	msg := online.WaitFor("alert message", isAlertMessage)
	a := alertOf(msg)
	body := msg.Find("body").Text
	if msg.Attr("from") != "geohub@localhost/hub" || a.Attr("event") != "enter" || a.Attr("fence") != depot.ID ||
		a.Attr("fence-name") != "Depot <North>" || a.Attr("device") != "car@localhost" ||
		!strings.HasPrefix(body, "car entered Depot <North> at ") || !strings.HasSuffix(body, "52.5101 13.4001") {
		t.Errorf("alert message: %s", msg)
	}
	if g := a.Child(nsGeoloc, "geoloc"); g == nil || g.Find("lat").Text != "52.5101" || g.Find("timestamp") == nil {
		t.Errorf("alert without the fix: %s", msg)
	}
	for _, node := range []string{"alerts/" + depot.ID, "alerts/group/fleet"} {
		ev := online.WaitFor(node+" event", isEventFrom("pubsub.localhost"))
		item := ev.Find("event/items/item")
		if ev.Find("event/items").Attr("node") != node || item.Attr("id") != a.Attr("id") || alertOf(item) == nil {
			t.Errorf("%s event: %s", node, ev)
		}
	}
	// The fence's own node holds the alert too.
	items := ok(t, "fence node items", ps(online, "get", nsPubSub, "<items node='alerts/"+depot.ID+"'/>"))
	if it := items.Find("pubsub/items/item"); it == nil || alertOf(it).Attr("event") != "enter" {
		t.Errorf("alerts/%s: %s", depot.ID, items)
	}
	wantError(t, "device reads the fence node", ps(car, "get", nsPubSub, "<items node='alerts/"+depot.ID+"'/>"), "not-allowed", "closed-node")

	// The operator who was offline finds the alert at login, stamped.
	late := xmpptest.Dial(t, h.Options(), "offline-op", offlinePW)
	late.Send("<presence/>")
	stored := late.WaitFor("stored alert", isAlertMessage)
	if alertOf(stored).Attr("id") != a.Attr("id") || stored.Child("urn:xmpp:delay", "delay") == nil || stored.Attr("from") != hubFull {
		t.Errorf("stored alert: %s", stored)
	}

	// An operator added later may read the alerts at once.
	newcomer := h.Login(t, "newcomer", devices.RoleOperator, "fleet")
	items = ok(t, "newcomer reads alerts", ps(newcomer, "get", nsPubSub, "<items node='alerts/group/fleet'/>"))
	if it := items.Find("pubsub/items/item"); it == nil || it.Attr("id") != a.Attr("id") {
		t.Errorf("newcomer's alerts: %s", items)
	}
	// Removing the fence deletes its node; its subscribers hear of it.
	if err := h.Geo.RemoveFence(depot.ID); err != nil {
		t.Fatal(err)
	}
	ev := online.WaitFor("node deletion", isEventFrom("pubsub.localhost"))
	if ev.Find("event/delete").Attr("node") != "alerts/"+depot.ID {
		t.Errorf("deletion event: %s", ev)
	}
	wantError(t, "the fence node after removal", ps(online, "get", nsPubSub, "<items node='alerts/"+depot.ID+"'/>"), "item-not-found", "")

	// A device never hears of the alert.
	car.Sync()
	for _, n := range car.Drain() {
		if n.Name() == "message" {
			t.Errorf("device got %s", n)
		}
	}
}

func TestAlertsSurviveRestartAndFenceStateIsKept(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Account(t, "op", devices.RoleOperator, "fleet")
	carPW := h.Account(t, "car", devices.RoleDevice, "fleet")
	addFence(t, h, `{"type":"Feature","properties":{"name":"Yard","radius":100,"notify":["op@localhost"]},
		"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)
	car := xmpptest.Dial(t, h.Options(), "car", carPW)
	ok(t, "inside", publishGeoloc(car, "f1", 52.51, 13.40))
	if got := h.Geo.Alerts(time.Time{}, time.Now(), 0); len(got) != 1 || got[0].Kind != geo.Enter {
		t.Fatalf("alerts before restart: %+v", got)
	}

	h = hubtest.Restart(t, h)
	// Still inside after the restart: no second enter; then an exit.
	car = xmpptest.Dial(t, h.Options(), "car", carPW)
	ok(t, "still inside", publishGeoloc(car, "f2", 52.5101, 13.40))
	ok(t, "outside", publishGeoloc(car, "f3", 52.52, 13.40))
	got := h.Geo.Alerts(time.Time{}, time.Now(), 0)
	if len(got) != 2 || got[0].Kind != geo.Enter || got[1].Kind != geo.Exit {
		t.Errorf("alerts after restart: %+v", got)
	}
	// The operator, offline all along, gets both, from the hub's JID
	// (the enter stored before the restart too).
	c := xmpptest.Dial(t, h.Options(), "op", op)
	c.Send("<presence/>")
	for _, want := range []string{geo.Enter, geo.Exit} {
		if m := c.WaitFor(want+" alert", isAlertMessage); alertOf(m).Attr("event") != want || m.Attr("from") != hubFull {
			t.Errorf("want %s from %s, got %s", want, hubFull, m)
		}
	}
}

func TestProximityAlertReachesTheOperator(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	op.Send("<presence/>")
	lead := h.Login(t, "lead", devices.RoleDevice, "fleet")
	bus := h.Login(t, "bus", devices.RoleDevice, "fleet")
	addFence(t, h, `{"type":"Feature","properties":{"name":"Convoy","near":["lead@localhost"],"groups":["fleet"],
		"radius":100,"notify":["op@localhost"]},"geometry":null}`)
	ok(t, "lead", publishGeoloc(lead, "l1", 52.5, 13.4))
	ok(t, "bus far", publishGeoloc(bus, "b1", 52.51, 13.4))
	ok(t, "bus near", publishGeoloc(bus, "b2", 52.5004, 13.4))
	msg := op.WaitFor("proximity alert", isAlertMessage)
	a := alertOf(msg)
	if a.Attr("event") != "enter" || a.Attr("device") != "bus@localhost" || a.Attr("near") != "lead@localhost" ||
		!strings.HasPrefix(msg.Find("body").Text, "bus came within 44 m of lead (Convoy)") {
		t.Errorf("proximity alert: %s", msg)
	}
}
