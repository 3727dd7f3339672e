package hub_test

// @xmpp/client over WebSocket (RFC 7395), the way browser clients connect:
// testdata/xmppjs/websocket.mjs logs in over ws://127.0.0.1:PORT/xmpp-websocket,
// talks with a Go client on the TCP listener and publishes a position to
// its PEP node, which lands in the hub's store.

import (
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

func TestXmppjsWebSocket(t *testing.T) {
	peers.Require(t, "xmppjs")
	h := hubtest.Start(t)
	url, _ := wsServe(t, h, false)
	pw := h.Account(t, "device", devices.RoleDevice, "fleet")
	peer := h.Login(t, "operator", devices.RoleOperator, "fleet")

	r := startXmppjs(t, h, "websocket.mjs", fixEnv(
		// Node 20 has the WebSocket global behind this flag.
		"NODE_OPTIONS=--experimental-websocket",
		"XMPP_SERVICE="+url,
		"DEVICE_PASSWORD="+pw, "PEER_JID="+peer.JID.String(),
	)...)
	online := r.Next("online")
	if online.S("jid") != "device@localhost/browser-tab" {
		t.Fatalf("bound %s", online)
	}
	if m := online.S("session.authMechanism"); !strings.HasPrefix(m, "SCRAM-") {
		t.Errorf("@xmpp/client authenticated with %q over plain ws://, want SCRAM (offered %v)", m, online.Strings("session.offered"))
	}
	if online.B("session.starttls") {
		t.Error("@xmpp/client did STARTTLS over WebSocket")
	}
	if offered := online.Strings("session.offered"); strings.Contains(strings.Join(offered, ","), "PLAIN") {
		t.Errorf("PLAIN offered over plain ws://: %v", offered)
	}

	// WebSocket -> TCP and back.
	checkChat(t, r, peer, "@xmpp/client", "device@localhost/browser-tab", "ws-1", "hello from a WebSocket")

	pub := r.Next("published")
	if pub.S("outcome") != "result" || pub.S("id") != fixID {
		t.Fatalf("publish over WebSocket: %s", pub)
	}
	checkFix(t, h, "after a PEP publish over WebSocket")
	if c := r.Next("closed"); !c.B("byHub") {
		t.Errorf("the hub did not answer the client's <close/>: %s", c)
	}
	r.MustSucceed()
}
