package hub_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

func isMessage(n *xmpptest.Node) bool { return n.Name() == "message" }

func TestMessageToFullJIDIsStamped(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	alice.Send(`<message to='%s' from='mallory@localhost/evil' type='chat' id='m1'><body>hi &amp; bye</body></message>`, bob.JID)
	got := bob.WaitFor("message", isMessage)
	if got.Attr("from") != alice.JID.String() {
		t.Errorf("from = %q, want the sender's real JID %s", got.Attr("from"), alice.JID)
	}
	if got.Attr("id") != "m1" || got.Attr("type") != "chat" || got.Attr("to") != bob.JID.String() {
		t.Errorf("attributes changed: %s", got)
	}
	if body := got.Child("", "body"); body == nil || body.Text != "hi & bye" {
		t.Errorf("body: %s", got)
	}
}

func TestMessageToBareJIDGoesToNonNegativeResources(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator)
	pw := h.Account(t, "bob", devices.RoleOperator)
	high := xmpptest.Dial(t, h.Options(), "bob", pw)
	zero := xmpptest.Dial(t, h.Options(), "bob", pw)
	negative := xmpptest.Dial(t, h.Options(), "bob", pw)
	silent := xmpptest.Dial(t, h.Options(), "bob", pw) // never sends presence
	high.Send("<presence><priority>5</priority></presence>")
	zero.Send("<presence/>")
	negative.Send("<presence><priority>-1</priority></presence>")
	for _, c := range []*xmpptest.Client{high, zero, negative} {
		c.Drain()
	}
	alice.Send("<message to='bob@localhost' type='chat'><body>to all</body></message>")
	alice.Drain()
	for _, tc := range []struct {
		name string
		c    *xmpptest.Client
		want bool
	}{{"priority 5", high, true}, {"priority 0", zero, true}, {"priority -1", negative, false}, {"no presence", silent, false}} {
		got := false
		for _, n := range tc.c.Drain() {
			if isMessage(n) {
				got = true
			}
		}
		if got != tc.want {
			t.Errorf("%s: delivered = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMessageWithoutToGoesToOwnAccount(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "bob", devices.RoleOperator)
	a := xmpptest.Dial(t, h.Options(), "bob", pw)
	b := xmpptest.Dial(t, h.Options(), "bob", pw)
	b.Send("<presence/>")
	b.Drain()
	a.Send("<message type='chat'><body>note to self</body></message>")
	got := b.WaitFor("message", isMessage)
	if got.Attr("from") != a.JID.String() {
		t.Errorf("from = %s", got.Attr("from"))
	}
}

func TestIQBetweenClientsPassesThrough(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	// A Jingle session-initiate (XEP-0166) the hub knows nothing about.
	jingle := `<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='` + alice.JID.String() +
		`' sid='a73sjjvkla37jfea'><content creator='initiator' name='voice'>` +
		`<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><payload-type id='96' name='speex' clockrate='16000'/></description>` +
		`<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' pwd='asd88fgpdd777uzjYhagZg' ufrag='8hhy'/></content></jingle>`
	alice.Send(`<iq type='set' id='j1' to='%s'>%s</iq>`, bob.JID, jingle)
	got := bob.WaitFor("jingle", func(n *xmpptest.Node) bool { return n.Name() == "iq" })
	if got.Attr("from") != alice.JID.String() || got.Attr("id") != "j1" {
		t.Fatalf("iq arrived as %s", got)
	}
	j := got.Child("urn:xmpp:jingle:1", "jingle")
	if j == nil || j.Attr("sid") != "a73sjjvkla37jfea" || j.Find("content/transport").Attr("ufrag") != "8hhy" {
		t.Fatalf("payload changed: %s", got)
	}
	bob.Send(`<iq type='result' id='j1' to='%s'/>`, alice.JID)
	res := alice.WaitFor("result", func(n *xmpptest.Node) bool { return n.Name() == "iq" && n.Attr("id") == "j1" })
	if res.Attr("type") != "result" || res.Attr("from") != bob.JID.String() {
		t.Errorf("result arrived as %s", res)
	}
}

func TestIQToUnavailableFullJID(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator)
	h.Account(t, "bob", devices.RoleOperator)
	res := alice.IQ("<iq type='get' id='ID' to='bob@localhost/nowhere'><query xmlns='jabber:iq:version'/></iq>")
	if res.Attr("type") != "error" || res.ErrorCondition() != "service-unavailable" || res.Attr("from") != "bob@localhost/nowhere" {
		t.Errorf("got %s", res)
	}
	// Results and errors to nowhere are dropped, never answered.
	alice.Send("<iq type='result' id='x' to='bob@localhost/nowhere'/>")
	if extra := alice.Drain(); len(extra) != 0 {
		t.Errorf("a result to nowhere was answered: %v", extra)
	}
}

func TestIQToBareJIDIsAnsweredByTheServer(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	h.Account(t, "car", devices.RoleDevice, "fleet")
	h.Account(t, "stranger", devices.RoleDevice, "elsewhere")
	info := op.IQ("<iq type='get' id='ID' to='car@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if id := info.Find("query/identity"); id == nil || id.Attr("category") != "account" || id.Attr("type") != "registered" {
		t.Errorf("disco#info on a group peer: %s", info)
	}
	ping := op.IQ("<iq type='get' id='ID' to='car@localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if ping.Attr("type") != "result" || ping.Attr("from") != "car@localhost" {
		t.Errorf("ping: %s", ping)
	}
	// An account the operator has no business with looks like no account.
	for _, to := range []string{"stranger@localhost", "ghost@localhost"} {
		res := op.IQ("<iq type='get' id='ID' to='" + to + "'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
		if res.ErrorCondition() != "service-unavailable" {
			t.Errorf("%s: %s", to, res)
		}
	}
	// An unknown namespace for the account itself.
	res := op.IQ("<iq type='get' id='ID' to='car@localhost'><query xmlns='urn:example:unknown'/></iq>")
	if res.ErrorCondition() != "service-unavailable" {
		t.Errorf("unknown namespace: %s", res)
	}
}

func TestOfflineMessagesAreStoredAndSurviveRestart(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.OfflineCap = 2 })
	alice := h.Login(t, "alice", devices.RoleOperator)
	pw := h.Account(t, "bob", devices.RoleOperator)
	alice.Send("<message to='bob@localhost' type='chat' id='o1'><body>first</body></message>")
	alice.Send("<message to='bob@localhost' id='o2'><body>second</body></message>")
	alice.Send("<message to='bob@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	alice.Send("<message to='bob@localhost' type='chat' id='o3'><body>third</body></message>")
	full := alice.WaitFor("error", func(n *xmpptest.Node) bool { return n.Attr("id") == "o3" })
	if full.Attr("type") != "error" || full.ErrorCondition() != "service-unavailable" {
		t.Errorf("over the cap: %s", full)
	}
	alice.Send("<message to='bob@localhost' type='headline'><body>not stored</body></message>")
	alice.Drain()

	h = hubtest.Restart(t, h, func(c *hub.Config) { c.OfflineCap = 2 })
	bob := xmpptest.Dial(t, h.Options(), "bob", pw)
	if got := bob.Drain(); len(got) != 0 {
		t.Fatalf("offline messages before initial presence: %v", got)
	}
	bob.Send("<presence/>")
	var bodies []string
	for _, n := range bob.Drain() {
		if isMessage(n) {
			bodies = append(bodies, n.Child("", "body").Text)
			if d := n.Child("urn:xmpp:delay", "delay"); d == nil || d.Attr("from") != "localhost" || d.Attr("stamp") == "" {
				t.Errorf("no delay: %s", n)
			}
			if n.Attr("from") != alice.JID.String() {
				t.Errorf("from = %s", n.Attr("from"))
			}
		}
	}
	if strings.Join(bodies, ",") != "first,second" {
		t.Errorf("delivered %v, want first,second", bodies)
	}
	// Delivered messages are gone.
	bob.Close()
	bob = xmpptest.Dial(t, h.Options(), "bob", pw)
	bob.Send("<presence/>")
	for _, n := range bob.Drain() {
		if isMessage(n) {
			t.Errorf("delivered twice: %s", n)
		}
	}
}

func TestMessageErrors(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator)
	for _, tc := range []struct{ to, cond string }{
		{"someone@elsewhere.example", "remote-server-not-found"},
		{"ghost@localhost", "service-unavailable"},
		{"a@b@c", "jid-malformed"},
		{"pubsub.localhost", "service-unavailable"}, // the domain itself answers chat commands
	} {
		alice.Send(`<message to='%s' id='e' type='chat'><body>x</body></message>`, tc.to)
		got := alice.WaitFor("error", isMessage)
		if got.Attr("type") != "error" || got.ErrorCondition() != tc.cond {
			t.Errorf("to %s: got %s, want %s", tc.to, got, tc.cond)
		}
	}
	// Errors are never answered with errors.
	alice.Send(`<message to='ghost@localhost' type='error'><body>x</body></message>`)
	if got := alice.Drain(); len(got) != 0 {
		t.Errorf("error answered: %v", got)
	}
}

func TestRepliesKeepOddIDsWellFormed(t *testing.T) {
	h := hubtest.Start(t)
	c := h.Login(t, "op", devices.RoleOperator)
	c.Send(`<iq type="get" id="it's &amp; &quot;odd&quot;" to="localhost"><ping xmlns='urn:xmpp:ping'/></iq>`)
	if n := c.Next(); n.Attr("id") != `it's & "odd"` || n.Attr("type") != "result" {
		t.Errorf("reply: %s", n)
	}
	c.Send(`<message type="chat" id="a'b" to="ghost@localhost"><body>x</body></message>`)
	if n := c.Next(); n.Attr("id") != "a'b" || n.ErrorCondition() != "service-unavailable" {
		t.Errorf("error reply: %s", n)
	}
}

// A resource that raises its priority from negative to non-negative starts
// taking messages for the bare JID, the stored ones first.
func TestOfflineMessagesReachAResourceThatRaisesItsPriority(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	bob.Send("<presence><priority>-1</priority></presence>")
	bob.Sync()
	alice.Send("<message to='bob@localhost' type='chat' id='s1'><body>stored</body></message>")
	alice.Sync()
	for _, n := range bob.Drain() {
		if isMessage(n) {
			t.Fatalf("a negative-priority resource got a message for the bare JID: %s", n)
		}
	}
	bob.Send("<presence><priority>1</priority></presence>")
	alice.Send("<message to='bob@localhost' type='chat' id='l1'><body>live</body></message>")
	var bodies []string
	for len(bodies) < 2 {
		m := bob.WaitFor("message", isMessage)
		bodies = append(bodies, m.Child("", "body").Text)
	}
	if strings.Join(bodies, ",") != "stored,live" {
		t.Errorf("got %v, want stored, then live", bodies)
	}
}

// A full offline store is delivered whole even when it is as large as the
// slow-reader limit: queuing it does not cut the client off.
func TestAFullOfflineStoreIsDelivered(t *testing.T) {
	limits := func(c *hub.Config) {
		c.Limits.MaxPending, c.Limits.OfflineBytes, c.OfflineCap = 32<<10, 32<<10, 1000
	}
	h := hubtest.Start(t, limits)
	alice := h.Login(t, "alice", devices.RoleOperator)
	pw := h.Account(t, "bob", devices.RoleOperator)
	text := strings.Repeat("x", 1000)
	stored := 0
	for i := 0; ; i++ {
		id := fmt.Sprintf("m%d", i)
		alice.Send("<message to='bob@localhost' type='chat' id='%s'><body>%s</body></message>", id, text)
		alice.Sync()
		if errs := slices.ContainsFunc(alice.Drain(), func(n *xmpptest.Node) bool { return n.Attr("type") == "error" }); errs {
			break
		}
		stored++
	}
	if stored < 25 {
		t.Fatalf("only %d messages stored", stored)
	}
	bob := xmpptest.Dial(t, h.Options(), "bob", pw)
	bob.Send("<presence/>")
	got := 0
	for got < stored {
		bob.WaitFor("stored message", isMessage)
		got++
	}
	bob.Sync() // still connected
}

// A client that stops reading is cut off with a stream error once more than
// --max-pending bytes wait for it, and the hub goes on for the others.
func TestASlowReaderIsCutOff(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxPending, c.Limits.ByteRate = 64<<10, -1 })
	alice := h.Login(t, "alice", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	bob.Send("<presence/>")
	bob.Sync()
	bob.StopReading()
	body := strings.Repeat("x", 100<<10)
	// The kernel's socket buffers take a few megabytes before the hub's
	// outbox grows; 400 messages of 100 KiB are far more.
	for i := 0; i < 400 && h.Accounts.Online("bob"); i++ {
		alice.Send("<message to='bob@localhost/%s' type='chat'><body>%s</body></message>", bob.JID.Resourcepart(), body)
		if i%20 == 19 {
			alice.Drain() // errors for messages after the cut-off come back here
		}
	}
	waitFor(t, "bob cut off", func() bool { return !h.Accounts.Online("bob") })
	alice.Sync() // the sender is unaffected
}
