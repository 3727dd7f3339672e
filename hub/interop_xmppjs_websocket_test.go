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

	r := startXmppjs(t, h, "websocket.mjs",
		// Node 20 has the WebSocket global behind this flag.
		"NODE_OPTIONS=--experimental-websocket",
		"XMPP_SERVICE="+url,
		"DEVICE_PASSWORD="+pw, "PEER_JID="+peer.JID.String(),
		"FIX_ID="+fixID, "FIX_LAT=52.5163", "FIX_LON=13.3777", "FIX_ACCURACY=4.5",
		"FIX_SPEED=12.25", "FIX_TIMESTAMP="+fixTimestamp,
	)
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

	// WebSocket -> TCP.
	r.Next("sent")
	got := peer.WaitFor("message", isMessage)
	if got.Attr("from") != "device@localhost/browser-tab" || got.Attr("id") != "ws-1" || got.Find("body").Text != "hello from a WebSocket" {
		t.Fatalf("the TCP client got %s", got)
	}
	// TCP -> WebSocket.
	peer.Send(`<message to='device@localhost/browser-tab' type='chat' id='tcp-1'><body>hello from TCP</body></message>`)
	if rec := r.Next("received"); rec.S("from") != peer.JID.String() || rec.S("id") != "tcp-1" || rec.S("body") != "hello from TCP" {
		t.Errorf("@xmpp/client got %s", rec)
	}

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
