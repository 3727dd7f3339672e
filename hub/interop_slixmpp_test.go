package hub_test

// Interoperability with slixmpp, a real Python XMPP client: the scripts in
// testdata/slixmpp log slixmpp clients into a hub started here and print what
// they observed as JSON lines, which these tests assert on, sometimes
// together with what a Go client on the same hub sees.

import (
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/xmpptest"
)

// slixLine is one observation printed by a script.
type slixLine map[string]any

func (l slixLine) str(key string) string {
	s, _ := l[key].(string)
	return s
}

// slixOutput is everything a script printed.
type slixOutput struct {
	lines          []slixLine
	stdout, stderr string
}

// find returns the lines with the event and, unless who is empty, printed
// for that client.
func (o slixOutput) find(event, who string) []slixLine {
	var got []slixLine
	for _, l := range o.lines {
		if l.str("event") == event && (who == "" || l.str("who") == who) {
			got = append(got, l)
		}
	}
	return got
}

// one returns the only line with the event for who, or fails the test.
func (o slixOutput) one(t *testing.T, event, who string) slixLine {
	t.Helper()
	got := o.find(event, who)
	if len(got) != 1 {
		t.Fatalf("want one %q line for %q, got %d\nstdout:\n%s\nstderr:\n%s", event, who, len(got), o.stdout, o.stderr)
	}
	return got[0]
}

// runSlixmpp runs testdata/slixmpp/script against h's STARTTLS listener
// (direct TLS with "--direct-tls") and fails the test, showing the script's
// output, unless it exits 0 with only JSON lines on stdout.
func runSlixmpp(t *testing.T, h *hubtest.Hub, script string, args ...string) slixOutput {
	t.Helper()
	addr := h.Addr
	for _, a := range args {
		if a == "--direct-tls" {
			addr = h.TLSAddr
		}
	}
	return runSlixmppOn(t, slixTarget{addr, h.CertFile}, script, args...)
}

func TestSlixmppLogin(t *testing.T) {
	peers.Require(t, "slixmpp")
	for _, tc := range []struct {
		name, mech string
		direct     bool
	}{
		{"SCRAM-SHA-256", "SCRAM-SHA-256", false},
		{"SCRAM-SHA-1", "SCRAM-SHA-1", false},
		{"PLAIN", "PLAIN", false},
		{"SCRAM-SHA-256 direct TLS", "SCRAM-SHA-256", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hubtest.Start(t)
			pw := h.Account(t, "car-17", devices.RoleDevice)
			watcher := h.Login(t, "watcher", devices.RoleOperator)
			args := []string{"--user", "car-17", pw, "--mech", tc.mech, "--notify", watcher.JID.String()}
			if tc.direct {
				args = append(args, "--direct-tls")
			}
			out := runSlixmpp(t, h, "login.py", args...)

			login := out.one(t, "login", "car-17")
			if login.str("outcome") != "ok" {
				t.Fatalf("login: %v\nstderr:\n%s", login, out.stderr)
			}
			// The mechanism slixmpp really used: what its <auth/> said,
			// once, and what its SASL plugin settled on.
			if sent, _ := login["auth_sent"].([]any); len(sent) != 1 || sent[0] != tc.mech {
				t.Errorf("<auth mechanism> sent: %v, want [%s]", login["auth_sent"], tc.mech)
			}
			if got := login.str("plugin_mech"); got != tc.mech {
				t.Errorf("slixmpp's mechanism: %q, want %q", got, tc.mech)
			}
			if tls := login.str("tls"); !strings.HasPrefix(tls, "TLSv1.") {
				t.Errorf("TLS version on slixmpp's side: %q", tls)
			}
			full := login.str("jid")
			if !strings.HasPrefix(full, "car-17@localhost/") || len(full) == len("car-17@localhost/") {
				t.Errorf("bound JID %q, want car-17@localhost/<resource>", full)
			}
			out.one(t, "ping", "")
			out.one(t, "sent", "")

			// The hub's side: the message slixmpp sent carries the JID it
			// was told it had bound.
			msg := watcher.WaitFor("slixmpp's message", isMessage)
			if msg.Attr("from") != full {
				t.Errorf("from = %q, want slixmpp's bound JID %q", msg.Attr("from"), full)
			}
			if b := msg.Child("", "body"); b == nil || b.Text != "logged in with "+tc.mech || msg.Attr("id") != "login-1" {
				t.Errorf("message: %s", msg)
			}
		})
	}
}

func TestSlixmppWrongPassword(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	pw := h.Account(t, "car-17", devices.RoleDevice)
	for _, mech := range []string{"SCRAM-SHA-256", "PLAIN"} {
		out := runSlixmpp(t, h, "login.py", "--user", "car-17", pw+"x", "--mech", mech)
		login := out.one(t, "login", "car-17")
		if login.str("outcome") != "failed_auth" || login.str("condition") != "not-authorized" {
			t.Errorf("%s with a wrong password: %v, want failed_auth not-authorized", mech, login)
		}
		out.one(t, "closed", "")
		if got := out.find("ping", ""); len(got) != 0 {
			t.Errorf("%s: a session after a failed login: %v", mech, got)
		}
	}
	if n := h.Sessions(); n != 0 {
		t.Errorf("hub has %d sessions after failed logins", n)
	}
}

// RFC 6120 §6.4.5: after a SASL failure the server SHOULD allow a
// reasonable number of retries (at least 2), so that a client can correct a
// mistyped password or fall back to another mechanism. slixmpp does the
// latter on its own: after not-authorized for SCRAM-SHA-256 it sends a new
// <auth/> for SCRAM-SHA-1 on the same stream; here it has corrected the
// password in between, so that retry should log it in.
func TestSlixmppRetryAfterFailedLogin(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	pw := h.Account(t, "car-17", devices.RoleDevice)
	out := runSlixmpp(t, h, "login.py", "--user", "car-17", pw+"x", "--retry-password", pw)
	login := out.one(t, "login", "car-17")
	if f, _ := login["auth_failures"].([]any); len(f) == 0 || f[0] != "not-authorized" {
		t.Fatalf("first attempt: %v, want a not-authorized failure", login)
	}
	if sent, _ := login["auth_sent"].([]any); len(sent) != 2 {
		t.Fatalf("slixmpp sent <auth/> %d times, want 2 (the failed attempt and the retry): %v", len(sent), login)
	}
	if login.str("outcome") != "ok" {
		t.Errorf("retry on the same stream after one failed attempt: %s %s, want a session (RFC 6120 §6.4.5 retries); <auth/> sent: %v, failures: %v",
			login.str("outcome"), login.str("condition"), login["auth_sent"], login["auth_failures"])
	}
}

func TestSlixmppChat(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	apw := h.Account(t, "alice", devices.RoleOperator)
	bpw := h.Account(t, "bob", devices.RoleOperator)
	out := runSlixmpp(t, h, "chat.py", "--user", "alice", apw, "--user", "bob", bpw)

	alice := out.one(t, "session", "alice").str("jid")
	bob := out.one(t, "session", "bob").str("jid")
	if !strings.HasPrefix(alice, "alice@localhost/") || !strings.HasPrefix(bob, "bob@localhost/") {
		t.Fatalf("bound JIDs %q and %q", alice, bob)
	}
	want := []slixLine{
		{"who": "bob", "from": alice, "to": bob, "type": "chat", "id": "chat-1", "body": "hello bob"},
		{"who": "alice", "from": bob, "to": alice, "type": "chat", "id": "chat-2", "body": "hello alice"},
		{"who": "bob", "from": alice, "to": "bob@localhost", "type": "chat", "id": "chat-3", "body": "to your account"},
	}
	got := out.find("received", "")
	if len(got) != len(want) {
		t.Fatalf("received %d messages, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		for k, v := range w {
			if got[i].str(k) != v {
				t.Errorf("message %d: %s = %q, want %q (%v)", i+1, k, got[i].str(k), v, got[i])
			}
		}
	}
}

func TestSlixmppPresenceSubscription(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	apw := h.Account(t, "alice", devices.RoleOperator)
	bpw := h.Account(t, "bob", devices.RoleOperator)
	out := runSlixmpp(t, h, "subscribe.py", "--user", "alice", apw, "--user", "bob", bpw)
	alice := out.one(t, "session", "alice").str("jid")
	bob := out.one(t, "session", "bob").str("jid")

	// The roster pushes each side waited for, in order (the script fails
	// if one does not come): what the hub told slixmpp about each state.
	type state struct{ subscription, ask string }
	for who, want := range map[string][]state{
		"alice": {{"none", ""}, {"none", "subscribe"}, {"to", ""}, {"both", ""}},
		"bob":   {{"from", ""}, {"from", "subscribe"}, {"both", ""}},
	} {
		var got []state
		for _, p := range out.find("push", who) {
			got = append(got, state{p.str("subscription"), p.str("ask")})
		}
		if len(got) != len(want) {
			t.Errorf("%s's pushes: %v, want %v", who, got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s's push %d: %v, want %v", who, i+1, got[i], want[i])
			}
		}
	}
	if p := out.find("push", "alice")[0]; p.str("name") != "Bob" || len(p["groups"].([]any)) != 1 || p["groups"].([]any)[0] != "Friends" {
		t.Errorf("push of the new item: %v", p)
	}

	// Subscription requests come from the bare JID (RFC 6121 §3.1.2).
	for who, from := range map[string]string{"bob": "alice@localhost", "alice": "bob@localhost"} {
		if r := out.one(t, "request", who); r.str("from") != from {
			t.Errorf("request at %s: %v, want from %s", who, r, from)
		}
	}
	// Approving a subscription brings the contact's current presence.
	if p := out.one(t, "presence", "alice"); p.str("from") != bob || p.str("show") != "chat" || p.str("status") != "driving" {
		t.Errorf("bob's presence at alice: %v", p)
	}
	if p := out.one(t, "presence", "bob"); p.str("from") != alice {
		t.Errorf("alice's presence at bob: %v", p)
	}
	// The final roster get, from slixmpp's side: the contact, and the
	// hub's own (items sorted by JID).
	for who, contact := range map[string]string{"alice": "bob@localhost", "bob": "alice@localhost"} {
		items, _ := out.one(t, "roster", who)["items"].([]any)
		if len(items) != 2 || slixLine(items[1].(map[string]any)).str("jid") != hubBare {
			t.Errorf("%s's roster: %v", who, items)
			continue
		}
		it := slixLine(items[0].(map[string]any))
		if it.str("jid") != contact || it.str("subscription") != "both" || it.str("ask") != "" {
			t.Errorf("%s's roster item: %v", who, it)
		}
	}

	// The hub's side: the state is stored, as a Go client sees it.
	for _, u := range []struct{ name, pw, contact string }{{"alice", apw, "bob@localhost"}, {"bob", bpw, "alice@localhost"}} {
		c := xmpptest.Dial(t, h.Options(), u.name, u.pw)
		items, _ := rosterItems(t, c)
		if it := items[u.contact]; it == nil || it.Attr("subscription") != "both" || it.Attr("ask") != "" {
			t.Errorf("%s's stored roster: %v", u.name, items)
		}
		if u.name == "alice" && (items["bob@localhost"] == nil || items["bob@localhost"].Attr("name") != "Bob" || items["bob@localhost"].Find("group").Text != "Friends") {
			t.Errorf("alice's stored item for bob: %v", items["bob@localhost"])
		}
	}
}

func TestSlixmppCustomIQ(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	apw := h.Account(t, "alice", devices.RoleOperator)
	bpw := h.Account(t, "bob", devices.RoleOperator)
	out := runSlixmpp(t, h, "iq.py", "--user", "alice", apw, "--user", "bob", bpw)
	alice := out.one(t, "session", "alice").str("jid")
	bob := out.one(t, "session", "bob").str("jid")

	// bob's handler got the query, stamped with alice's full JID.
	got := out.one(t, "handled", "bob")
	for k, v := range map[string]string{"from": alice, "to": bob, "type": "get", "id": "geo-1", "question": "where are you?"} {
		if got.str(k) != v {
			t.Errorf("query at bob: %s = %q, want %q (%v)", k, got.str(k), v, got)
		}
	}
	// alice got bob's answer, payload included.
	res := out.one(t, "result", "")
	for k, v := range map[string]string{"from": bob, "to": alice, "type": "result", "id": "geo-1", "answer": "42, you asked: where are you?"} {
		if res.str(k) != v {
			t.Errorf("answer at alice: %s = %q, want %q (%v)", k, res.str(k), v, res)
		}
	}
	// Nobody to answer: a resource bob does not have (RFC 6121 §8.5.3.2.1),
	// and bob's bare JID, which the hub answers for the account and does
	// not understand (RFC 6121 §8.5.1, RFC 6120 §8.4).
	errs := out.find("error", "")
	if len(errs) != 2 {
		t.Fatalf("errors: %v", errs)
	}
	for _, e := range errs {
		if e.str("type") != "error" || e.str("condition") != "service-unavailable" || e.str("error_type") != "cancel" || e.str("from") != e.str("target") {
			t.Errorf("query to %s: %v, want a service-unavailable error of type cancel", e.str("target"), e)
		}
	}
}
