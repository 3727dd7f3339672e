package tracking_test

import (
	"fmt"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
)

// A device added in a group nobody had brings the group's alert node,
// which an admin may join at once; the group's operators join it too when
// they come later, and a device that changes to operator gains its rights.
func TestDevicesInANewGroupGetItsAlertNode(t *testing.T) {
	h := hubtest.Start(t)
	admin := h.Login(t, "boss", devices.RoleAdmin)
	h.Account(t, "van-1", devices.RoleDevice, "night")
	wantResult(t, "admin joins the new group's node", ps(admin, "set", "<subscribe node='alerts/group/night' jid='boss@localhost'/>"))
	h.Account(t, "van-2", devices.RoleDevice, "night", "weekend")
	wantResult(t, "admin joins the second device's other group", ps(admin, "set", "<subscribe node='alerts/group/weekend' jid='boss@localhost'/>"))
	op := h.Login(t, "op", devices.RoleOperator, "night")
	wantResult(t, "the group's operator joins", ps(op, "set", "<subscribe node='alerts/group/night' jid='op@localhost'/>"))
	wantCondition(t, "the operator of another group", ps(op, "set", "<subscribe node='alerts/group/weekend' jid='op@localhost'/>"), "not-allowed")
	if _, err := h.Accounts.Update("op", func(a *devices.Account) error { a.Groups = append(a.Groups, "weekend"); return nil }); err != nil {
		t.Fatal(err)
	}
	wantResult(t, "the operator once in the group", ps(op, "set", "<subscribe node='alerts/group/weekend' jid='op@localhost'/>"))
}

// Adding devices one at a time, as provisioning scripts do, to a hub that
// has 10,000 already: the cost of one add should not grow with the count.
func BenchmarkAddDevice(b *testing.B) {
	h := hubtest.Start(b)
	add := func(i int) {
		if _, err := h.Accounts.Add(devices.NewAccount{Name: fmt.Sprintf("car-%d", i), Role: devices.RoleDevice,
			Groups: []string{"fleet"}, Password: "pw"}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 10000 {
		add(i)
	}
	b.ResetTimer()
	for i := range b.N {
		add(10000 + i)
	}
}
