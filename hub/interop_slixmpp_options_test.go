package hub_test

import (
	"slices"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

// checkSlixOptions checks what pubsub_options.py saw that GeoHub and
// Prosody do alike: max_items=max and the other options OMEMO and
// bookmarks clients send create a node and are then met as preconditions;
// max is not met by a node keeping one item.
func checkSlixOptions(t *testing.T, out slixOutput) {
	t.Helper()
	steps := map[string]slixLine{}
	for _, l := range out.find("step", "") {
		steps[l.str("name")] = l
	}
	for _, name := range []string{"bundle 1", "bundle 2", "bookmark", "bookmark again", "default node"} {
		if steps[name].str("outcome") != "result" {
			t.Errorf("%s: %v, want a result", name, steps[name])
		}
	}
	if s := steps["default max"]; s.str("condition") != "conflict" || s.str("app") != "precondition-not-met" {
		t.Errorf("max on a node keeping one item: %v, want conflict and precondition-not-met", s)
	}
	var ids []string
	for _, id := range out.one(t, "items", "")["ids"].([]any) {
		ids = append(ids, id.(string))
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"1", "2"}) {
		t.Errorf("bundles kept: %v, want 1 and 2", ids)
	}
}

// slixConfig returns the configuration values pubsub_options.py read for node.
func slixConfig(t *testing.T, out slixOutput, node string) map[string]any {
	t.Helper()
	for _, l := range out.find("config", "") {
		if l.str("node") == node {
			v, _ := l["values"].(map[string]any)
			return v
		}
	}
	t.Fatalf("no configuration of %s", node)
	return nil
}

func TestSlixmppPublishOptionsMax(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	pw := h.Account(t, "alice", devices.RoleOperator)
	out := runSlixmppOn(t, hubTarget(h), "pubsub_options.py", "--user", "alice", pw)
	checkSlixOptions(t, out)
	// GeoHub shows max as the number it stands for on PEP.
	if v := slixConfig(t, out, "urn:xmpp:omemo:2:bundles"); v["pubsub#max_items"] != "32" || v["pubsub#access_model"] != "open" {
		t.Errorf("bundles configuration: %v", v)
	}
	if v := slixConfig(t, out, "urn:xmpp:bookmarks:1"); v["pubsub#max_items"] != "32" || v["pubsub#access_model"] != "whitelist" || v["pubsub#send_last_published_item"] != "never" {
		t.Errorf("bookmarks configuration: %v", v)
	}
}

func TestProsodySlixmppPublishOptionsMax(t *testing.T) {
	peers.Require(t, "slixmpp")
	peers.Require(t, "prosody")
	p := peers.StartProsody(t, peers.ProsodyOptions{Users: map[string]string{"alice": "alice-pw"}})
	out := runSlixmppOn(t, prosodyTarget(p), "pubsub_options.py", "--user", "alice", "alice-pw")
	checkSlixOptions(t, out)
	// Prosody keeps max as the word.
	if v := slixConfig(t, out, "urn:xmpp:omemo:2:bundles"); v["pubsub#max_items"] != "max" {
		t.Errorf("bundles configuration on Prosody: %v", v)
	}
}
