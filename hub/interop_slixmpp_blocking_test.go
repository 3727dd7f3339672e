package hub_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

// checkSlixBlocking checks what blocking.py saw: slixmpp's xep_0191 reads,
// changes and hears pushes of the blocklist, and a blocked account's
// message does not reach alice. GeoHub and Prosody agree on all of it.
func checkSlixBlocking(t *testing.T, out slixOutput) {
	t.Helper()
	lists := map[string][]string{}
	for _, l := range out.find("blocklist", "") {
		var got []string
		for _, j := range l["jids"].([]any) {
			got = append(got, j.(string))
		}
		lists[l.str("phase")] = got
	}
	if len(lists["start"]) != 0 || !slices.Equal(lists["blocked"], []string{"bob@localhost"}) || len(lists["unblocked"]) != 0 {
		t.Errorf("blocklists: %v", lists)
	}
	for _, s := range out.find("step", "") {
		if s.str("outcome") != "result" {
			t.Errorf("step: %v", s)
		}
	}
	var pushes []string
	for _, p := range out.find("push", "") {
		var js []string
		for _, j := range p["jids"].([]any) {
			js = append(js, j.(string))
		}
		pushes = append(pushes, p.str("action")+" "+strings.Join(js, ","))
	}
	if !slices.Equal(pushes, []string{"block bob@localhost", "unblock bob@localhost"}) {
		t.Errorf("pushes: %v", pushes)
	}
	for _, r := range out.find("received", "alice") {
		if strings.HasPrefix(r.str("from"), "bob@localhost") && r.str("body") != "from bob again" {
			t.Errorf("a message from bob reached alice while he was blocked: %v", r)
		}
	}
	for _, r := range out.find("received", "bob") {
		t.Errorf("bob received: %v", r)
	}
	bounces := map[string]slixLine{}
	for _, b := range out.find("bounce", "") {
		bounces[b.str("who")+" "+b.str("id")] = b
	}
	if b := bounces["bob b1"]; b.str("condition") != "service-unavailable" {
		t.Errorf("bob's message to alice came back as %v, want service-unavailable", b)
	}
	if b := bounces["alice a1"]; b.str("condition") != "not-acceptable" || b["blocked"] != true {
		t.Errorf("alice's message to bob came back as %v, want not-acceptable with <blocked/>", b)
	}
	if len(out.find("marker", "")) != 1 {
		t.Errorf("the barrier after bob's message did not arrive")
	}
}

func TestSlixmppBlocking(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	args := []string{}
	for _, u := range []string{"alice", "bob", "carol"} {
		args = append(args, "--user", u, h.Account(t, u, devices.RoleOperator))
	}
	out := runSlixmppOn(t, hubTarget(h), "blocking.py", args...)
	checkSlixBlocking(t, out)
}

func TestProsodySlixmppBlocking(t *testing.T) {
	peers.Require(t, "slixmpp")
	peers.Require(t, "prosody")
	p := peers.StartProsody(t, peers.ProsodyOptions{
		Users:  map[string]string{"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"},
		Global: []string{`modules_enabled = { "roster", "saslauth", "tls", "disco", "pep", "ping", "admin_shell", "blocklist" }`},
	})
	out := runSlixmppOn(t, prosodyTarget(p), "blocking.py", "--user", "alice", "alice-pw", "--user", "bob", "bob-pw", "--user", "carol", "carol-pw")
	checkSlixBlocking(t, out)
}
