package hub_test

import (
	"fmt"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

// slixmpp's xep_0198 plugin enables stream management with resumption,
// acknowledges, and resumes after its TCP connection is cut: what was sent
// to it meanwhile arrives once, in order.
func TestSlixmppStreamManagementResume(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t, unlimited)
	apw := h.Account(t, "alice", devices.RoleOperator)
	bpw := h.Account(t, "bob", devices.RoleOperator)
	out := runSlixmpp(t, h, "sm.py", "--user", "alice", apw, "--user", "bob", bpw)

	en := out.one(t, "enabled", "")
	if en.str("id") == "" || en.str("resume") != "True" {
		t.Errorf("enabled: %v", en)
	}
	if r := out.one(t, "resumed", ""); r.str("previd") != en.str("id") {
		t.Errorf("resumed %v, enabled %v", r, en)
	}
	done := out.one(t, "done", "")
	if got := fmt.Sprint(done["bodies"]); got != "[m1 m2 m3 m4 m5 m6]" {
		t.Errorf("alice read %s", got)
	}
	for _, l := range out.find("received", "alice") {
		if b := l.str("body"); (b == "m4" || b == "m5" || b == "m6") && l.str("phase") != "resumed" {
			t.Errorf("%s arrived in phase %s", b, l.str("phase"))
		}
	}
	out.one(t, "received", "bob")
}
