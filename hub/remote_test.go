package hub_test

import (
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// presencesFrom returns the presence stanzas from jid among nodes.
func presencesFrom(nodes []*xmpptest.Node, jid string) []*xmpptest.Node {
	var out []*xmpptest.Node
	for _, n := range nodes {
		if n.Name() == "presence" && n.Attr("from") == jid {
			out = append(out, n)
		}
	}
	return out
}

// A device online through another transport (the MQTT bridge) shows to
// its watchers as one available resource: broadcast when it comes and
// goes, answered to probes, learnt by resources that become available
// later and by operators who join its group, composed with a real session
// of the same account, and gone when the account is removed. Nothing is
// routed to it.
func TestRemotePresence(t *testing.T) {
	h := hubtest.Start(t)
	const remote = "car@localhost/mqtt"
	carPassword := h.Account(t, "car", devices.RoleDevice, "fleet")
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	op.Send("<presence/>")
	op.Drain()

	if err := h.SetRemotePresence("car", "mqtt", true, "via MQTT"); err != nil {
		t.Fatal(err)
	}
	p := op.WaitFor("available remote presence", isPresenceFrom(remote, ""))
	if p.Attr("to") != op.JID.String() || p.Find("status").Text != "via MQTT" {
		t.Errorf("presence: %s", p)
	}
	// The same presence again is no news.
	if err := h.SetRemotePresence("car", "mqtt", true, "via MQTT"); err != nil {
		t.Fatal(err)
	}
	if got := presencesFrom(op.Drain(), remote); len(got) != 0 {
		t.Errorf("the same presence sent again: %v", got)
	}
	// Probes are answered with it.
	op.Send("<presence type='probe' to='car@localhost'/>")
	if p := op.WaitFor("probe answer", isPresenceFrom(remote, "")); p.Find("status").Text != "via MQTT" {
		t.Errorf("probe answer: %s", p)
	}
	// A resource that becomes available later learns it, and so does an
	// operator put into the group.
	op2 := h.Login(t, "op2", devices.RoleOperator, "fleet")
	op2.Send("<presence/>")
	op2.WaitFor("remote presence at login", isPresenceFrom(remote, ""))
	op3 := h.Login(t, "op3", devices.RoleOperator)
	op3.Send("<presence/>")
	if got := presencesFrom(op3.Drain(), remote); len(got) != 0 {
		t.Errorf("an operator outside the group saw the device: %v", got)
	}
	op3.Send("<presence type='probe' to='car@localhost'/>")
	if got := presencesFrom(op3.Drain(), remote); len(got) != 0 {
		t.Errorf("a probe from outside the group was answered: %v", got)
	}
	if _, err := h.Accounts.Update("op3", func(a *devices.Account) error { a.Groups = []string{"fleet"}; return nil }); err != nil {
		t.Fatal(err)
	}
	op3.WaitFor("remote presence on joining the group", isPresenceFrom(remote, ""))

	// PEP is unchanged by it: an operator whose caps ask for geoloc
	// notifications gets the device's last fix at login, and its presence.
	done := make(chan error, 1)
	h.PublishPEP("car", nsGeoloc, "fix-1", []byte(geoloc(48.1, 11.5)), func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	op4 := h.Login(t, "op4", devices.RoleOperator, "fleet")
	announceCaps(t, op4, nsGeoloc+"+notify")
	if ev := op4.WaitFor("last fix at login", isEventFrom("car@localhost")); ev.Find("event/items/item/geoloc/lat").Text != "48.1" {
		t.Errorf("last item: %s", ev)
	}
	op4.WaitFor("remote presence at login", isPresenceFrom(remote, ""))

	// Nothing is routed to the remote resource: a chat goes to the bare
	// JID (stored offline, as nobody else is there), a normal message and
	// an IQ are refused.
	op.Send("<message type='chat' to='" + remote + "' id='m1'><body>where are you?</body></message>")
	op.Send("<message to='" + remote + "' id='m2'><body>hello</body></message>")
	if e := op.WaitFor("error for the normal message", func(n *xmpptest.Node) bool {
		return n.Name() == "message" && n.Attr("id") == "m2"
	}); e.Attr("type") != "error" || e.ErrorCondition() != "service-unavailable" {
		t.Errorf("normal message to the remote resource: %s", e)
	}
	if res := op.IQ("<iq type='get' id='ID' to='" + remote + "'><ping xmlns='urn:xmpp:ping'/></iq>"); res.ErrorCondition() != "service-unavailable" {
		t.Errorf("IQ to the remote resource: %s", res)
	}

	// A real session of the same account: its presence and the remote
	// one are two resources; it learns of the remote one, and gets the
	// chat that was stored.
	car := xmpptest.Dial(t, h.Options(), "car", carPassword)
	car.Send("<presence/>")
	if p := car.WaitFor("own remote resource", isPresenceFrom(remote, "")); p.Attr("to") != car.JID.String() {
		t.Errorf("own remote resource: %s", p)
	}
	if m := car.WaitFor("the stored chat", func(n *xmpptest.Node) bool { return n.Name() == "message" && n.Attr("id") == "m1" }); m.Find("body").Text != "where are you?" {
		t.Errorf("stored chat: %s", m)
	}
	op.WaitFor("the session's presence", isPresenceFrom(car.JID.String(), ""))

	if err := h.SetRemotePresence("car", "mqtt", false, ""); err != nil {
		t.Fatal(err)
	}
	op.WaitFor("unavailable remote presence", isPresenceFrom(remote, "unavailable"))
	car.WaitFor("own remote resource gone", isPresenceFrom(remote, "unavailable"))
	if got := presencesFrom(op.Drain(), car.JID.String()); len(got) != 0 {
		t.Errorf("the session's presence changed with the remote one: %v", got)
	}
	// Probes now see the session only.
	op.Send("<presence type='probe' to='car@localhost'/>")
	op.WaitFor("probe answer for the session", isPresenceFrom(car.JID.String(), ""))
	if got := presencesFrom(op.Drain(), remote); len(got) != 0 {
		t.Errorf("probe answered for the gone remote resource: %v", got)
	}
	// Unavailable twice is a no-op.
	if err := h.SetRemotePresence("car", "mqtt", false, ""); err != nil {
		t.Fatal(err)
	}
	if got := presencesFrom(op.Drain(), remote); len(got) != 0 {
		t.Errorf("unavailable sent twice: %v", got)
	}

	// Removing the account makes its remote resource unavailable, and a
	// later account of the same name starts without it.
	if err := h.SetRemotePresence("car", "mqtt", true, "via MQTT"); err != nil {
		t.Fatal(err)
	}
	op.WaitFor("available again", isPresenceFrom(remote, ""))
	if err := h.Accounts.Remove("car"); err != nil {
		t.Fatal(err)
	}
	op.WaitFor("unavailable on removal", isPresenceFrom(remote, "unavailable"))
	h.Account(t, "car", devices.RoleDevice, "fleet")
	op.Send("<presence type='probe' to='car@localhost'/>")
	if got := presencesFrom(op.Drain(), remote); len(got) != 0 {
		t.Errorf("the new account inherited the remote resource: %v", got)
	}

	// Bad calls.
	if err := h.SetRemotePresence("nobody", "mqtt", true, ""); err == nil {
		t.Error("remote presence for an unknown account")
	}
	if err := h.SetRemotePresence("car", "", true, ""); err == nil {
		t.Error("remote presence without a resource")
	}
	if err := h.SetRemotePresence("Car", "mqtt", true, ""); err == nil {
		t.Error("remote presence for a name that is not normalized")
	}
}
