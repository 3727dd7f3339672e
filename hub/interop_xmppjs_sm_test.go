package hub_test

import (
	"slices"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

// @xmpp/client's stream management, over TCP and over WebSocket: it enables
// resumption as it logs in, and resumes after its connection dies; what was
// sent meanwhile arrives once.
func TestXmppjsStreamManagementResume(t *testing.T) {
	peers.Require(t, "xmppjs")
	for _, transport := range []string{"tcp", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			h := hubtest.Start(t, unlimited)
			env := []string{"ALICE_PASSWORD=" + h.Account(t, "alice", devices.RoleOperator),
				"BOB_PASSWORD=" + h.Account(t, "bob", devices.RoleOperator)}
			if transport == "websocket" {
				url, _ := wsServe(t, h, false)
				env = append(env, "NODE_OPTIONS=--experimental-websocket", "XMPP_SERVICE="+url)
			}
			r := startXmppjs(t, h, "sm.mjs", env...)
			en := r.Next("enabled")
			if en.S("id") == "" {
				t.Fatalf("enabled: %s", en)
			}
			res := r.Next("resumed")
			if got := res.Strings("bodies"); !slices.Equal(got, []string{"m1", "m2", "m3", "m4", "m5", "m6"}) {
				t.Errorf("alice read %v", got)
			}
			if res.S("previd") != en.S("id") {
				t.Errorf("resumed %s after enabled %s", res, en)
			}
			r.Next("after")
			r.MustSucceed()
		})
	}
}
