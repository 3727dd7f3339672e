package hub_test

// Converse.js, the web client, in Debian's Chromium against a real
// `geohub serve` over XMPP over WebSocket. testdata/converse/converse.mjs
// drives the browser and reports each step as a JSON line; this test
// provisions the accounts and fences, plays the device and the other
// operator over TCP, and checks on the hub's side what Converse did.

import (
	"encoding/json"
	"fmt"
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

// The hub's own address, from which alerts and command answers come.
const converseHubJID = "geohub@localhost"

// TestConverseInChromium: the operator alice logs in with Converse.js over
// ws://127.0.0.1 (SCRAM, as plain WebSocket allows from loopback), sets up
// OMEMO (its device lists and bundles, 0.3 and 2, land on her PEP nodes,
// read back here over TCP), opens the chat with the hub from her roster, asks `help` and
// gets the answer in that chat, gets there the two alerts of the device
// car driving into two nested fences, and chats by JID with bob, an
// operator of another group who is not in her roster: bob gets her
// message and his reply shows in Converse. The page may not reach beyond
// loopback. A screenshot of each chat lands in the test's artifact folder
// (go test -artifacts keeps it).
func TestConverseInChromium(t *testing.T) {
	peers.Require(t, "converse")
	root := peers.Root(t)
	bin := servetest.Build(t, root)
	data := filepath.Join(t.TempDir(), "data")
	alicePW := servetest.AddAccount(t, bin, data, "alice", "--role", "operator", "--group", "fleet")
	bobPW := servetest.AddAccount(t, bin, data, "bob", "--role", "operator", "--group", "ops")
	carPW := servetest.AddAccount(t, bin, data, "car", "--group", "fleet")
	// Two nested circles: driving in from the west enters both at once.
	fences := filepath.Join(t.TempDir(), "fences.geojson")
	if err := os.WriteFile(fences, []byte(`{"type":"FeatureCollection","features":[
		{"type":"Feature","properties":{"name":"Depot","radius":300,"groups":["fleet"],"events":["enter"],"notify":["alice"]},
		 "geometry":{"type":"Point","coordinates":[13.40,52.51]}},
		{"type":"Feature","properties":{"name":"Depot gate","radius":100,"groups":["fleet"],"events":["enter"],"notify":["alice"]},
		 "geometry":{"type":"Point","coordinates":[13.40,52.51]}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	servetest.Run(t, "", bin, "fence", "add", fences, "--data", data)

	hub := servetest.Start(t, bin, data, "--c2s-tls", "")
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tcp := xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}
	car := xmpptest.Dial(t, tcp, "car", carPW)
	car.Send("<presence/>") // online in alice's roster
	// 1.4 km west of the depot.
	ok(t, "car west of the depot", publishGeoloc(car, "fix-1", 52.51, 13.38))
	bob := xmpptest.Dial(t, tcp, "bob", bobPW)
	bob.Send("<presence/>")

	const peerText, replyText = "Hello bob, alice here, from Converse.js", "Hi alice, bob got it"
	shots := t.ArtifactDir()
	// CONVERSE_LOGLEVEL=debug adds every stanza to the script's stderr.
	browser := peers.StartBrowserScript(t, filepath.Join(root, "hub", "testdata", "converse"), "converse.mjs",
		"WS_URL=ws://"+hub.HTTP+"/xmpp-websocket",
		"XMPP_JID=alice@localhost", "XMPP_PASSWORD="+alicePW,
		"HUB_JID="+converseHubJID, "PEER_JID=bob@localhost",
		"PEER_TEXT="+peerText, "REPLY_TEXT="+replyText,
		"SCREENSHOTS="+shots, "PROFILE_DIR="+t.TempDir())
	browser.Run(func(step string, line []byte) {
		var s struct {
			JID, Mechanism, DeviceID string
			Texts                    []string
			Blocked                  *int
		}
		json.Unmarshal(line, &s)
		switch step {
		case "logged-in":
			if !strings.HasPrefix(s.JID, "alice@localhost/") {
				t.Errorf("Converse bound %q, want alice@localhost/...", s.JID)
			}
			if !strings.HasPrefix(s.Mechanism, "SCRAM-") {
				t.Errorf("Converse authenticated with %q over ws://, want SCRAM", s.Mechanism)
			}
		case "omemo":
			other := xmpptest.Dial(t, tcp, "alice", alicePW)
			checkOMEMOPublished(t, other, s.DeviceID)
			// The hub is in alice's roster; bob, whom she chats with
			// later, is not.
			roster := ok(t, "alice's roster", other.IQ("<iq type='get' id='ID'><query xmlns='jabber:iq:roster'/></iq>"))
			var contacts []string
			if q := roster.Find("query"); q != nil {
				for _, it := range q.All("item") {
					contacts = append(contacts, it.Attr("jid"))
				}
			}
			if !slices.Contains(contacts, converseHubJID) || slices.Contains(contacts, "bob@localhost") {
				t.Errorf("alice's roster: %v", contacts)
			}
			other.Close()
			browser.Answer("omemo-checked")
		case "help":
			if len(s.Texts) != 1 || !strings.HasPrefix(s.Texts[0], "Commands:\nhelp") || !strings.Contains(s.Texts[0], "\nfences") {
				t.Errorf("the hub's messages in Converse after help: %q", s.Texts)
			}
		case "waiting-for-alerts":
			ok(t, "car in the depot", publishGeoloc(car, "fix-2", 52.51, 13.40))
		case "alerts": // two alerts, then the answer to fences
			if len(s.Texts) != 3 {
				t.Errorf("the hub's messages in Converse after the car drove in: %q, want two alerts and the fence list", s.Texts)
				break
			}
			alerts := strings.Join(s.Texts[:2], "\n")
			if !strings.Contains(alerts, "car entered Depot at ") || !strings.Contains(alerts, "car entered Depot gate at ") {
				t.Errorf("the alerts in Converse: %q", s.Texts[:2])
			}
			if !strings.Contains(s.Texts[2], "✓ Depot (") || !strings.Contains(s.Texts[2], "✓ Depot gate (") {
				t.Errorf("the answer to fences in Converse: %q", s.Texts[2])
			}
		case "sent-to-peer":
			if s.Blocked == nil || *s.Blocked != 0 {
				t.Errorf("alice's blocklist in Converse: %v entries, want an empty list", s.Blocked)
			}
			got := bob.WaitFor("alice's message", func(n *xmpptest.Node) bool {
				return n.Name() == "message" && n.Find("body") != nil && n.Find("body").Text == peerText
			})
			if !strings.HasPrefix(got.Attr("from"), "alice@localhost/") || got.Attr("type") != "chat" {
				t.Errorf("bob got %s", got)
			}
			bob.Send("<message to='%s' type='chat' id='bob-1'><body>%s</body></message>", got.Attr("from"), replyText)
		case "reply-shown":
			if len(s.Texts) != 1 || s.Texts[0] != replyText {
				t.Errorf("bob's messages in Converse: %q, want his reply", s.Texts)
			}
		}
	})
	t.Logf("screenshots: %s", shots)
}

// checkOMEMOPublished reads, as another resource of the account, the
// device lists and the bundles of device id from the account's PEP nodes,
// in OMEMO 0.3 (eu.siacs.conversations.axolotl, one bundle node per
// device) and OMEMO 2 (one bundles node, published with
// pubsub#max_items=max, an item per device).
func checkOMEMOPublished(t *testing.T, c *xmpptest.Client, id string) {
	t.Helper()
	const legacy, v2 = "eu.siacs.conversations.axolotl", "urn:xmpp:omemo:2"
	listed := func(list *xmpptest.Node) bool {
		for _, d := range list.All("device") {
			if d.Attr("id") == id {
				return true
			}
		}
		return false
	}
	if list := pepItem(t, c, legacy+".devicelist", "").Find("list"); list == nil || !listed(list) {
		t.Errorf("device %s is not in the published OMEMO 0.3 device list: %v", id, list)
	}
	b := pepItem(t, c, legacy+".bundles:"+id, "").Find("bundle")
	if b == nil || b.Find("identityKey") == nil || b.Find("signedPreKeyPublic") == nil || b.Find("prekeys/preKeyPublic") == nil {
		t.Errorf("the OMEMO 0.3 bundle of device %s: %v", id, b)
	}
	if list := pepItem(t, c, v2+":devices", "").Find("devices"); list == nil || !listed(list) {
		t.Errorf("device %s is not in the published OMEMO 2 device list: %v", id, list)
	}
	b = pepItem(t, c, v2+":bundles", id).Find("bundle")
	if b == nil || b.Find("ik") == nil || b.Find("spk") == nil || b.Find("prekeys/pk") == nil {
		t.Errorf("the OMEMO 2 bundle of device %s: %v", id, b)
	}
}

// pepItem returns the item (the last one when id is "") of a node on c's
// own PEP service, asking again for up to 10 s while there is none:
// Converse publishes OMEMO 2 in the background.
func pepItem(t *testing.T, c *xmpptest.Client, node, id string) *xmpptest.Node {
	t.Helper()
	want := ""
	if id != "" {
		want = fmt.Sprintf("<item id='%s'/>", id)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := c.IQ(fmt.Sprintf("<iq type='get' id='ID' to='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='%s'>%s</items></pubsub></iq>",
			c.JID.Bare(), node, want))
		items := res.Find("pubsub/items")
		if res.Attr("type") == "result" && items != nil && len(items.All("item")) > 0 {
			all := items.All("item")
			return all[len(all)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no item %q on %s: %s", id, node, res)
		}
		time.Sleep(20 * time.Millisecond) // the poll's pace
	}
}
