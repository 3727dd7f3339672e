package tracking_test

import (
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// Another account fills an away operator's offline store; the alerts of the
// time away still reach the operator at login, stamped, each once: not
// again at the next login, and an alert while online not twice.
func TestMissedAlertsReachAnOperatorWhoseOfflineStoreIsFull(t *testing.T) {
	h := hubtest.Start(t)
	opPW := h.Account(t, "op", devices.RoleOperator, "fleet")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	spammer := h.Login(t, "spammer", devices.RoleOperator, "fleet")
	addFence(t, h.Geo, `{"type":"Feature","properties":{"name":"Yard","radius":200,"groups":["fleet"],
		"events":["enter","exit"],"notify":["op@localhost"]},"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)

	for i := range hub.DefaultOfflineCap + 10 {
		spammer.Send("<message type='chat' to='op@localhost' id='s%d'><body>x</body></message>", i)
	}
	spammer.Sync()
	wantResult(t, "enter", publishFix(car, "f1", 52.51, 13.40))
	wantResult(t, "exit", publishFix(car, "f2", 52.52, 13.40))
	waitFor(t, "two alerts delivered", func() bool { return h.App.Stats().AlertsDelivered == 2 })

	alerts := func(c *xmpptest.Client) (ids []string) {
		for _, n := range c.Drain() {
			if isAlertMessage(n) {
				ids = append(ids, n.Attr("id"))
				if n.Child("urn:xmpp:delay", "delay") == nil || n.Attr("from") != "geohub@localhost/hub" {
					t.Errorf("missed alert: %s", n)
				}
			}
		}
		return ids
	}
	op := xmpptest.Dial(t, h.Options(), "op", opPW)
	op.Send("<presence/>")
	op.WaitFor("missed alert", isAlertMessage)
	waitFor(t, "the first login checked", func() bool { return h.App.CatchUps() == 1 })
	got := append([]string{"first"}, alerts(op)...)
	if len(got) != 2 {
		// The first was taken by WaitFor: one more, the exit, is due.
		t.Errorf("missed alerts after the first: %v, want one more", got[1:])
	}

	// Online: a new alert comes once, live.
	wantResult(t, "enter again", publishFix(car, "f3", 52.51, 13.40))
	live := op.WaitFor("live alert", isAlertMessage)
	if live.Child("urn:xmpp:delay", "delay") != nil {
		t.Errorf("live alert stamped: %s", live)
	}
	waitFor(t, "three alerts delivered", func() bool { return h.App.Stats().AlertsDelivered == 3 })
	if st := h.App.Stats(); st.AlertsCaughtUp != 2 {
		t.Errorf("%d alerts caught up, want 2", st.AlertsCaughtUp)
	}
	op.Close()
	waitFor(t, "op offline", func() bool { return !h.Accounts.Online("op") })

	// Back again: nothing missed, nothing repeated.
	op = xmpptest.Dial(t, h.Options(), "op", opPW)
	op.Send("<presence/>")
	waitFor(t, "the second login checked", func() bool { return h.App.CatchUps() == 2 })
	if ids := alerts(op); len(ids) != 0 {
		t.Errorf("alerts repeated at the next login: %v", ids)
	}
}
