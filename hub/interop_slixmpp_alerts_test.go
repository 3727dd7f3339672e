package hub_test

// Geofence alerts with slixmpp: a slixmpp device drives into a fence and a
// slixmpp operator receives the hub's chat alert and the alert item on the
// pubsub nodes alerts and alerts/<fence>, through slixmpp's own message
// handling and xep_0060 (testdata/slixmpp/alerts.py).

import (
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	geo "github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

// object returns a JSON object field of a line ("alert", "geoloc") as a
// line of its own; nil when absent.
func (l slixLine) object(key string) slixLine {
	m, _ := l[key].(map[string]any)
	return slixLine(m)
}

func TestSlixmppGeofenceAlerts(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	carPW := h.Account(t, "car", devices.RoleDevice, "fleet")
	// An admin: the node of all alerts is for admins only (operators
	// read their groups' and fences' nodes).
	opPW := h.Account(t, "op", devices.RoleAdmin)
	depot := addFence(t, h, `{"type":"Feature","properties":{"name":"Depot <North>","radius":200,"groups":["fleet"],
		"events":["enter"],"notify":["op@localhost"]},
		"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)
	fenceNode := "alerts/" + depot.ID

	out := runSlixmpp(t, h, "alerts.py", "--user", "car", carPW, "--user", "op", opPW, "--fence", depot.ID)
	if op := out.one(t, "session", "op").str("jid"); !strings.HasPrefix(op, "op@localhost/") {
		t.Fatalf("operator's bound JID %q", op)
	}

	// The operator's subscriptions, the device's refusals.
	subs := out.find("subscribe", "op")
	if len(subs) != 2 {
		t.Errorf("operator's subscriptions: %v, want alerts and %s", subs, fenceNode)
	}
	for _, s := range subs {
		if s.str("outcome") != "result" || s.str("subscription") != "subscribed" || s.str("jid") != "op@localhost" {
			t.Errorf("operator subscribes: %v", s)
		}
	}
	for _, name := range []string{"device subscribes to alerts", "device reads the fence node"} {
		var p slixLine
		for _, l := range out.find("probe", "") {
			if l.str("name") == name {
				p = l
			}
		}
		if p.str("outcome") != "error" || p.str("condition") != "not-allowed" || p.str("app") != "closed-node" {
			t.Errorf("%s: %v, want an IqError not-allowed (closed-node)", name, p)
		}
	}
	var inside slixLine
	for _, p := range out.find("publish", "car") {
		if p.str("outcome") != "result" {
			t.Errorf("publish: %v", p)
		}
		if p.str("id") == "f2" {
			inside = p
		}
	}
	if inside == nil {
		t.Fatalf("no inside fix published:\n%s", out.stdout)
	}
	fixTime, err := time.Parse(time.RFC3339, inside.str("timestamp"))
	if err != nil {
		t.Fatalf("inside fix's timestamp: %v", err)
	}

	// The hub's record: exactly one alert, an enter.
	stored := h.Geo.Alerts(time.Time{}, time.Now().Add(time.Hour), 0)
	if len(stored) != 1 || stored[0].Kind != geo.Enter || stored[0].Fence != depot.ID {
		t.Fatalf("alerts stored: %+v, want one enter of %s", stored, depot.ID)
	}
	id := stored[0].ID

	// 1. The chat message, as slixmpp parsed it.
	msg := out.one(t, "alert_message", "op")
	// Addressed to the bare JID the fence notifies, delivered to the
	// operator's available resource (RFC 6121 §8.5.2.1.1).
	if msg.str("from") != "geohub@localhost/hub" || msg.str("to") != "op@localhost" || msg.str("type") != "chat" || !strings.HasPrefix(msg.str("id"), "alert-") {
		t.Errorf("alert message: %v, want a chat from geohub@localhost/hub to op@localhost", msg)
	}
	wantBody := "car entered Depot <North> at " + fixTime.UTC().Format("15:04") + " UTC, 52.5101 13.4001"
	if body := msg.str("body"); !strings.HasPrefix(body, "car entered Depot <North>") || body != wantBody {
		t.Errorf("body %q, want %q", body, wantBody)
	}
	checkSlixAlert(t, "alert message", msg, id, depot.ID, fixTime)

	// 2. The pubsub items: the same alert on both nodes, once each.
	items := out.find("alert_item", "op")
	byNode := map[string]slixLine{}
	for _, it := range items {
		if byNode[it.str("node")] != nil {
			t.Errorf("a second item on %s: %v", it.str("node"), it)
		}
		byNode[it.str("node")] = it
	}
	for _, node := range []string{"alerts", fenceNode} {
		it := byNode[node]
		if it == nil {
			t.Errorf("no alert item on %s: %v", node, items)
			continue
		}
		if it.str("from") != "pubsub.localhost" || it.str("id") != id {
			t.Errorf("%s item: %v, want from pubsub.localhost with id %s", node, it, id)
		}
		checkSlixAlert(t, node+" item", it, id, depot.ID, fixTime)
	}
	if len(items) != 2 {
		t.Errorf("alert items at the operator: %d, want 2 (alerts and %s): %v", len(items), fenceNode, items)
	}

	// The device hears of nothing.
	saw := out.one(t, "device_saw", "")
	if m, _ := saw["messages"].([]any); len(m) != 0 {
		t.Errorf("alert messages at the device: %v", m)
	}
	if i, _ := saw["items"].([]any); len(i) != 0 {
		t.Errorf("alert items at the device: %v", i)
	}
}

// checkSlixAlert checks the <alert/> element a line carries: the enter of
// car into the fence, with the inside fix as its geoloc.
func checkSlixAlert(t *testing.T, what string, l slixLine, id, fence string, fixTime time.Time) {
	t.Helper()
	a := l.object("alert")
	if a == nil {
		t.Errorf("%s without an <alert xmlns='urn:geohub:alert:0'/>: %v", what, l)
		return
	}
	for k, v := range map[string]string{"id": id, "event": "enter", "fence": fence, "fence-name": "Depot <North>", "device": "car@localhost"} {
		if a.str(k) != v {
			t.Errorf("%s: alert %s = %q, want %q (%v)", what, k, a.str(k), v, a)
		}
	}
	if at, err := time.Parse(time.RFC3339Nano, a.str("time")); err != nil || !at.Equal(fixTime) {
		t.Errorf("%s: alert time %q, want the fix's %s", what, a.str("time"), fixTime.Format(time.RFC3339))
	}
	g := l.object("geoloc")
	if g.str("lat") != "52.5101" || g.str("lon") != "13.4001" {
		t.Errorf("%s: alert's geoloc %v, want lat 52.5101 lon 13.4001", what, g)
	}
	if ts, err := time.Parse(time.RFC3339Nano, g.str("timestamp")); err != nil || !ts.Equal(fixTime) {
		t.Errorf("%s: alert's geoloc timestamp %q, want %s", what, g.str("timestamp"), fixTime.Format(time.RFC3339))
	}
}
