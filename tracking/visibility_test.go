package tracking_test

import (
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
)

// An operator of one group neither reads nor joins the alerts of another
// group's devices over XMPP: not on the node of all alerts, the other
// group's node or its fence's node, not by the watch command (answered as
// for a fence that does not exist), and not by chat when an admin's fence
// names them. Their own group's alerts reach them on every path.
func TestOperatorsGetOnlyAlertsOfDevicesTheySee(t *testing.T) {
	h := hubtest.Start(t)
	opA := h.Login(t, "op-a", devices.RoleOperator, "a")
	opA.Send("<presence/>")
	opB := h.Login(t, "op-b", devices.RoleOperator, "b")
	opB.Send("<presence/>")
	admin := h.Login(t, "boss", devices.RoleAdmin)
	admin.Send("<presence/>")
	carB := h.Login(t, "car-b", devices.RoleDevice, "b")
	h.Account(t, "car-a", devices.RoleDevice, "a")
	fenceB := addFence(t, h.Geo, `{"type":"Feature","properties":{"name":"Yard B","radius":200,"groups":["b"],
		"events":["enter"],"notify":["op-b@localhost"]},"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)
	// An admin's fence on group b that names an operator of group a: op-a
	// reads it (as in the API) but gets none of its alerts.
	named := addFence(t, h.Geo, `{"type":"Feature","properties":{"name":"Gate B","radius":300,"groups":["b"],
		"events":["enter"],"notify":["op-a@localhost"]},"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)
	fenceA := addFence(t, h.Geo, `{"type":"Feature","properties":{"name":"Yard A","radius":200,"groups":["a"],
		"events":["enter"]},"geometry":{"type":"Point","coordinates":[13.50,52.51]}}`)

	for _, node := range []string{"alerts", "alerts/" + fenceB.ID, "alerts/group/b"} {
		wantCondition(t, "op-a subscribes to "+node, ps(opA, "set", "<subscribe node='"+node+"' jid='op-a@localhost'/>"), "not-allowed")
		wantCondition(t, "op-a reads "+node, ps(opA, "get", "<items node='"+node+"'/>"), "not-allowed")
	}
	for _, node := range []string{"alerts/group/b", "alerts/" + fenceB.ID} {
		wantResult(t, "op-b subscribes to "+node, ps(opB, "set", "<subscribe node='"+node+"' jid='op-b@localhost'/>"))
	}
	wantResult(t, "op-a subscribes to its group's node", ps(opA, "set", "<subscribe node='alerts/group/a' jid='op-a@localhost'/>"))
	wantResult(t, "op-a subscribes to its fence's node", ps(opA, "set", "<subscribe node='alerts/"+fenceA.ID+"' jid='op-a@localhost'/>"))
	wantResult(t, "admin subscribes to alerts", ps(admin, "set", "<subscribe node='alerts' jid='boss@localhost'/>"))

	// watch: another group's fence is answered as a fence that is not there.
	unknown := ask(t, opA, "watch nosuchfence")
	if got := ask(t, opA, "watch "+fenceB.ID); got != strings.Replace(unknown, "nosuchfence", fenceB.ID, 1) {
		t.Errorf("watch %s (another group's fence): %q, want as for an unknown one: %q", fenceB.ID, got, unknown)
	}
	if got := ask(t, opA, "watch Yard B"); !strings.Contains(got, `No fence "Yard B"`) {
		t.Errorf("watch Yard B: %q", got)
	}
	if got := ask(t, opA, "fences"); strings.Contains(got, "Yard B") || !strings.Contains(got, "Yard A") {
		t.Errorf("fences of op-a: %q", got)
	}
	if got := ask(t, opA, "watch Yard A"); !strings.Contains(got, "You now get the alerts of Yard A") {
		t.Errorf("watch Yard A: %q", got)
	}

	// car-b enters Yard B: op-b and the admin hear of it, op-a does not.
	wantResult(t, "outside", publishFix(carB, "f1", 52.50, 13.40))
	wantResult(t, "inside", publishFix(carB, "f2", 52.5101, 13.4001))
	opB.WaitFor("alert message", isAlertMessage)
	opB.WaitFor("alerts/group/b event", isEvent("alerts/group/b"))
	opB.WaitFor("fence node event", isEvent("alerts/"+fenceB.ID))
	admin.WaitFor("alerts event", isEvent("alerts"))
	for _, n := range opA.Drain() {
		if n.Name() == "message" {
			t.Errorf("op-a got %s", n)
		}
	}
	if f, _ := h.Geo.Fence(fenceB.ID); strings.Join(f.Notify, ",") != "op-b@localhost" {
		t.Errorf("fence B notifies %v", f.Notify)
	}
	wantCondition(t, "op-a reads the node of the fence naming it", ps(opA, "get", "<items node='alerts/"+named.ID+"'/>"), "not-allowed")
}
