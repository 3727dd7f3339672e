package hub_test

import (
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// A device that sends a publish again after a dropped link (it never saw
// the answer) gets success, and the hub takes no second fix: no second
// trail point, alert or notification, even once newer fixes have replaced
// the item on the node.
func TestRepeatedPublishTakesNoSecondFix(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	op.Send("<presence/>")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	addFence(t, h, `{"type":"Feature","properties":{"name":"Depot","radius":200,"groups":["fleet"],
		"events":["enter"],"notify":["op@localhost"]},"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)

	ingested := func(want uint64) {
		t.Helper()
		waitFor(t, "fixes taken", func() bool { return h.Geo.Ingested() >= want })
		if n := h.Geo.Ingested(); n != want {
			t.Fatalf("%d fixes taken, want %d", n, want)
		}
	}
	ok(t, "outside", publishGeoloc(car, "f1", 52.50, 13.40))
	ok(t, "inside", publishGeoloc(car, "f2", 52.5101, 13.4001))
	ingested(2)
	op.WaitFor("the alert", isAlertMessage)

	ok(t, "inside again, the same publish", publishGeoloc(car, "f2", 52.5101, 13.4001))
	ok(t, "outside", publishGeoloc(car, "f3", 52.50, 13.40))
	// f2 is no longer the node's item; sent again it would be a new
	// entry into the fence.
	ok(t, "the inside publish once more", publishGeoloc(car, "f2", 52.5101, 13.4001))
	ingested(3)
	if n := h.PubSub().Stats().RepeatedPublishes; n != 2 {
		t.Errorf("%d repeats counted, want 2", n)
	}
	// The same item ID with another payload is a new publish.
	ok(t, "f3 corrected", publishGeoloc(car, "f3", 52.49, 13.40))
	ingested(4)

	op.Send("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	op.WaitFor("sync", func(n *xmpptest.Node) bool { return n.Attr("id") == "sync" })
	for _, n := range op.Drain() {
		if isAlertMessage(n) {
			t.Errorf("a second alert: %s", n)
		}
	}
}
