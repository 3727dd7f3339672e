package hub_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// ask sends a chat command to the hub and returns the answer's body.
func ask(t *testing.T, c *xmpptest.Client, command string) string {
	t.Helper()
	id := c.ID()
	c.Send("<message type='chat' to='localhost' id='%s'><body>%s</body></message>", id, command)
	m := c.WaitFor("answer to "+command, func(n *xmpptest.Node) bool { return n.Name() == "message" && n.Attr("id") == id })
	if m.Attr("from") != "localhost" || m.Attr("type") != "chat" {
		t.Errorf("answer to %s: %s", command, m)
	}
	return m.Find("body").Text
}

func wantAnswer(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("answer lacks %q:\n%s", w, got)
		}
	}
}

func TestChatCommands(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	admin := h.Login(t, "boss", devices.RoleAdmin)
	car := h.Login(t, "car-17", devices.RoleDevice, "fleet")
	other := h.Login(t, "van", devices.RoleDevice, "elsewhere")
	ok(t, "car", car.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='%s'><publish node='%s'><item>"+
		"<geoloc xmlns='%s'><lat>52.52013</lat><lon>13.40498</lon><accuracy>5</accuracy><speed>8.5</speed><bearing>90</bearing></geoloc>"+
		"</item></publish></pubsub></iq>", nsPubSub, nsGeoloc, nsGeoloc)))
	ok(t, "van", publishGeoloc(other, "v1", 52.521, 13.405))
	depot := addFence(t, h, `{"type":"Feature","properties":{"name":"Depot","radius":300,"groups":["fleet"],"events":["enter"]},
		"geometry":{"type":"Point","coordinates":[13.41,52.52]}}`)

	wantAnswer(t, ask(t, op, "help"), "where [DEVICE]", "near LAT,LON RADIUS", "watch FENCE")
	wantAnswer(t, ask(t, op, "where car-17"), "car-17 at geo:52.52013,13.40498;u=5", "8.5 m/s heading 90°")
	// An operator sees the devices of its groups only; an admin sees all.
	if got := ask(t, op, "where van"); !strings.Contains(got, "No position of van") {
		t.Errorf("operator sees a device outside its groups: %s", got)
	}
	if got := ask(t, op, "where"); !strings.Contains(got, "car-17") || strings.Contains(got, "van") {
		t.Errorf("where: %s", got)
	}
	wantAnswer(t, ask(t, admin, "WHERE"), "car-17 at", "van at")
	wantAnswer(t, ask(t, admin, "near 52.52,13.405 120m"), "Within 120 m of 52.52,13.405", "car-17, 15 m away", "van, 111 m away")
	if got := ask(t, admin, "near 52.52,13.405 100"); !strings.Contains(got, "car-17") || strings.Contains(got, "van") {
		t.Errorf("near 100 m: %s", got)
	}
	wantAnswer(t, ask(t, admin, "near car-17 1km"), "Within 1.0 km of car-17", "van, ")
	wantAnswer(t, ask(t, admin, "near 52.52,13.405 -3"), "radius")
	wantAnswer(t, ask(t, admin, "near 95,13 100"), "neither LAT,LON nor a device")
	wantAnswer(t, ask(t, op, "teleport car-17"), `Unknown command "teleport"`)

	// watch and unwatch change whom the fence alerts.
	wantAnswer(t, ask(t, op, "fences"), "  Depot ("+depot.ID+"): enter")
	wantAnswer(t, ask(t, op, "watch depot"), "You now get the alerts of Depot")
	wantAnswer(t, ask(t, op, "fences"), "✓ Depot")
	if f, _ := h.Geo.Fence(depot.ID); len(f.Notify) != 1 || f.Notify[0] != "op@localhost" {
		t.Errorf("fence notifies %v", f.Notify)
	}
	op.Send("<presence/>")
	ok(t, "car enters", publishGeoloc(car, "c2", 52.52, 13.41))
	if m := op.WaitFor("alert", isAlertMessage); alertOf(m).Attr("fence") != depot.ID {
		t.Errorf("alert: %s", m)
	}
	wantAnswer(t, ask(t, op, "unwatch "+depot.ID), "You no longer get the alerts of Depot")
	wantAnswer(t, ask(t, op, "watch nowhere"), `No fence "nowhere"`)
	h = hubtest.Restart(t, h)
	if f, _ := h.Geo.Fence(depot.ID); len(f.Notify) != 0 {
		t.Errorf("after unwatch and restart the fence notifies %v", f.Notify)
	}
}

func TestDevicesCannotUseChatCommands(t *testing.T) {
	h := hubtest.Start(t)
	car := h.Login(t, "car", devices.RoleDevice)
	car.Send("<message type='chat' to='localhost' id='c1'><body>where</body></message>")
	m := car.WaitFor("error", func(n *xmpptest.Node) bool { return n.Attr("id") == "c1" })
	if m.Attr("type") != "error" || m.ErrorCondition() != "forbidden" {
		t.Errorf("device command: %s", m)
	}
	// Chat states without a body get no answer at all.
	car.Send("<message type='chat' to='localhost' id='c2'><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
	car.Sync()
	for _, n := range car.Drain() {
		if n.Attr("id") == "c2" {
			t.Errorf("answer to a chat state: %s", n)
		}
	}
}
