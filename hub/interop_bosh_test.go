package hub_test

// StanzaJS and strophe.js over BOSH (XEP-0124, XEP-0206), clients nobody
// here wrote. StanzaJS:
// testdata/bosh/bosh.mjs logs a device and an operator in over
// http://127.0.0.1:PORT/http-bind; the device talks with a Go client on the
// TCP listener and publishes a position to its PEP node, which lands in
// the hub's store and reaches the operator as a notification over BOSH.

import (
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

func TestStanzaJSBOSH(t *testing.T) {
	peers.Require(t, "boshjs")
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	dpw := h.Account(t, "device", devices.RoleDevice, "fleet")
	opw := h.Account(t, "operator", devices.RoleOperator, "fleet")
	peer := h.Login(t, "peer", devices.RoleOperator)

	r := startNode(t, h, "hub/testdata/bosh", "bosh.mjs", fixEnv(
		"BOSH_URL="+e.url,
		"DEVICE_PASSWORD="+dpw, "OPERATOR_PASSWORD="+opw, "PEER_JID="+peer.JID.String(),
	)...)
	online := r.Next("online")
	if online.S("device") != "device@localhost/stanza-tracker" || online.S("operator") != "operator@localhost/stanza-console" {
		t.Fatalf("bound %s", online)
	}
	if m := online.S("mechanism"); !strings.HasPrefix(m, "SCRAM-") {
		t.Errorf("StanzaJS authenticated with %q over plain http://, want SCRAM (offered %v)", m, online.Strings("offered"))
	}
	if offered := strings.Join(online.Strings("offered"), ","); strings.Contains(offered, "PLAIN") {
		t.Errorf("PLAIN offered over plain http://: %v", offered)
	}

	// BOSH -> TCP and back.
	checkChat(t, r, peer, "StanzaJS", "device@localhost/stanza-tracker", "bosh-1", "hello over BOSH")

	if pub := r.Next("published"); pub.S("outcome") != "result" {
		t.Fatalf("publish over BOSH: %s", pub)
	}
	checkFix(t, h, "after a PEP publish over BOSH")
	ev := r.Next("operator.event")
	if ev.S("from") != "device@localhost" || ev.S("timestamp") != "2025-06-01T12:34:56.000Z" ||
		ev.get("lat") != 52.5163 || ev.get("lon") != 13.3777 || ev.get("accuracy") != 4.5 || ev.get("speed") != 12.25 {
		t.Errorf("the operator's notification over BOSH: %s", ev)
	}
	if c := r.Next("closed"); !c.B("device") || !c.B("operator") {
		t.Errorf("the sessions did not end with a terminate body: %s", c)
	}
	r.MustSucceed()
	waitFor(t, "the BOSH sessions to end", func() bool { return h.Sessions() == 1 })
}

// strophe.js over BOSH: testdata/bosh/strophe.mjs logs a device in over
// http://127.0.0.1:PORT/http-bind, talks with a Go client on the TCP
// listener, publishes a position to its PEP node and disconnects.
func TestStropheBOSH(t *testing.T) {
	peers.Require(t, "boshjs")
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	pw := h.Account(t, "device", devices.RoleDevice)
	peer := h.Login(t, "peer", devices.RoleOperator)

	r := startNode(t, h, "hub/testdata/bosh", "strophe.mjs", fixEnv(
		"BOSH_URL="+e.url,
		"DEVICE_PASSWORD="+pw, "PEER_JID="+peer.JID.String(),
	)...)
	online := r.Next("online")
	if online.S("jid") != "device@localhost/strophe-tracker" {
		t.Fatalf("bound %s", online)
	}
	if m := online.S("mechanism"); !strings.HasPrefix(m, "SCRAM-") {
		t.Errorf("strophe.js authenticated with %q over plain http://, want SCRAM (offered %v)", m, online.Strings("offered"))
	}

	checkChat(t, r, peer, "strophe.js", "device@localhost/strophe-tracker", "strophe-1", "hello from strophe")
	if pub := r.Next("published"); pub.S("outcome") != "result" || pub.S("id") != fixID {
		t.Fatalf("publish over BOSH: %s", pub)
	}
	checkFix(t, h, "after a PEP publish from strophe.js over BOSH")
	if c := r.Next("closed"); !c.B("terminated") {
		t.Errorf("strophe.js's disconnect was not answered with a terminate body: %s", c)
	}
	r.MustSucceed()
	waitFor(t, "the BOSH session to end", func() bool { return h.Sessions() == 1 })
}
