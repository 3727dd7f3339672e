package hub_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/servetest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// TestConverseCatchesUpWithMAMAndCarbons: alice talks with bob on her
// phone (a client over TCP); then Converse.js logs in as alice, a new
// device, opens the chat with bob and shows that conversation, both
// sides, from the hub's archive (offline storage holds nothing: the phone
// took every message). Then bob writes to the phone's full JID and the
// phone answers: Converse shows both, as carbons.
func TestConverseCatchesUpWithMAMAndCarbons(t *testing.T) {
	peers.Require(t, "converse")
	root := peers.Root(t)
	bin := servetest.Build(t, root)
	data := filepath.Join(t.TempDir(), "data")
	alicePW := servetest.AddAccount(t, bin, data, "alice", "--role", "operator", "--group", "fleet")
	bobPW := servetest.AddAccount(t, bin, data, "bob", "--role", "operator", "--group", "ops")
	hub := servetest.Start(t, bin, data, "--c2s-tls", "")
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tcp := xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}
	phone := xmpptest.Dial(t, tcp, "alice", alicePW)
	bob := xmpptest.Dial(t, tcp, "bob", bobPW)
	phone.Send("<presence/>")
	bob.Send("<presence/>")
	ok(t, "carbons on the phone", phone.IQ("<iq type='set' id='ID'><enable xmlns='urn:xmpp:carbons:2'/></iq>"))

	// Converse orders messages by their time in milliseconds: each one
	// goes in a millisecond of its own (on loopback a round trip takes
	// less).
	nextMilli := func() {
		for now := time.Now().UnixMilli(); time.Now().UnixMilli() == now; {
			time.Sleep(100 * time.Microsecond) // the poll's pace
		}
	}
	theirs := []string{"Where is car 17?", "Never mind, found it"}
	mine := []string{"At the depot, I think"}
	bob.Send("<message type='chat' to='alice@localhost' id='b1'><body>%s</body></message>", theirs[0])
	phone.WaitFor("bob's first", isChat(theirs[0]))
	nextMilli()
	phone.Send("<message type='chat' to='bob@localhost' id='p1'><body>%s</body></message>", mine[0])
	bob.WaitFor("the phone's answer", isChat(mine[0]))
	nextMilli()
	bob.Send("<message type='chat' to='alice@localhost' id='b2'><body>%s</body></message>", theirs[1])
	phone.WaitFor("bob's second", isChat(theirs[1]))

	shots := t.ArtifactDir()
	live := struct{ theirs, mine string }{"Now to your phone", "Seen it on the phone"}
	browser := peers.StartBrowserScript(t, filepath.Join(root, "hub", "testdata", "converse"), "converse_mam.mjs",
		"WS_URL=ws://"+hub.HTTP+"/xmpp-websocket", "XMPP_JID=alice@localhost", "XMPP_PASSWORD="+alicePW,
		"PEER_JID=bob@localhost", "THEIRS="+strings.Join(theirs, "|"), "MINE="+strings.Join(mine, "|"),
		"SCREENSHOTS="+shots, "PROFILE_DIR="+t.TempDir())
	browser.Run(func(step string, line []byte) {
		var s struct{ Theirs, Mine []string }
		json.Unmarshal(line, &s)
		switch step {
		case "history":
			if !slices.Equal(s.Theirs, theirs) || !slices.Equal(s.Mine, mine) {
				t.Errorf("Converse shows bob's %q and alice's %q, want %q and %q from the archive", s.Theirs, s.Mine, theirs, mine)
			}
		case "waiting-for-carbons":
			bob.Send("<message type='chat' to='%s' id='b3'><body>%s</body></message>", phone.JID.String(), live.theirs)
			phone.WaitFor("bob's live message", isChat(live.theirs))
			nextMilli()
			phone.Send("<message type='chat' to='bob@localhost' id='p2'><body>%s</body></message>", live.mine)
			bob.WaitFor("the phone's live answer", isChat(live.mine))
		case "carbons":
			if !slices.Equal(s.Theirs, append(theirs, live.theirs)) || !slices.Equal(s.Mine, append(mine, live.mine)) {
				t.Errorf("after the carbons Converse shows bob's %q and alice's %q", s.Theirs, s.Mine)
			}
			browser.Answer("carbons-checked")
		}
	})
	t.Logf("screenshots: %s", shots)
}
