package hub_test

// The hub's own JID with slixmpp: a slixmpp operator finds it in its roster
// (both, GeoHub), sees it online, gets disco#info, ping and version from
// it, runs help against it, and receives two alerts in a row from it, each
// a chat from a roster contact (testdata/slixmpp/hubjid.py).

import (
	"slices"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

func TestSlixmppOperatorChatsWithTheHubJID(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t, func(c *hub.Config) { c.Version = "4.5.6" })
	carPW := h.Account(t, "car", devices.RoleDevice, "fleet")
	opPW := h.Account(t, "op", devices.RoleOperator, "fleet")
	depot := addFence(t, h, `{"type":"Feature","properties":{"name":"Depot","radius":200,"groups":["fleet"],
		"events":["enter","exit"],"notify":["op@localhost"]},
		"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)

	out := runSlixmpp(t, h, "hubjid.py", "--user", "car", carPW, "--user", "op", opPW, "--hub", hubBare, "--fence", depot.ID)

	// The roster, as slixmpp stored it.
	items, _ := out.one(t, "roster", "op")["items"].(map[string]any)
	it, _ := items[hubBare].(map[string]any)
	if groups, _ := it["groups"].([]any); it["subscription"] != "both" || it["name"] != "GeoHub" || !slices.Equal(groups, []any{"GeoHub"}) {
		t.Errorf("the operator's roster: %v, want %s (both, GeoHub, group GeoHub)", items, hubBare)
	}
	if items, _ := out.one(t, "roster", "car")["items"].(map[string]any); items[hubBare] != nil {
		t.Errorf("the device's roster has the hub: %v", items)
	}

	// Online, under its resource.
	p := out.one(t, "hub_presence", "op")
	if res, _ := p["resources"].([]any); p.str("from") != hubFull || p.str("type") != "available" || !slices.Equal(res, []any{"hub"}) ||
		!strings.Contains(p.str("status"), "help") {
		t.Errorf("the hub's presence: %v", p)
	}

	d := out.one(t, "disco", "")
	feats, _ := d["features"].([]any)
	ids, _ := d["identities"].([]any)
	id, _ := ids[0].([]any)
	if len(ids) != 1 || len(id) < 3 || id[0] != "client" || id[1] != "bot" || !slices.Contains(feats, any("urn:xmpp:ping")) ||
		!slices.Contains(feats, any("jabber:iq:version")) {
		t.Errorf("disco#info: %v", d)
	}
	if l := out.one(t, "ping", ""); l.str("outcome") != "result" {
		t.Errorf("ping: %v", l)
	}
	if l := out.one(t, "version", ""); l.str("name") != "GeoHub" || l.str("version") != "4.5.6" {
		t.Errorf("version: %v", l)
	}
	if a := out.one(t, "answer", ""); a.str("from") != hubFull || a.str("type") != "chat" || !strings.Contains(a.str("body"), "where [DEVICE]") {
		t.Errorf("answer to help: %v", a)
	}

	// Two alerts in a row, both from the hub's JID, both kept.
	msgs := out.find("alert_message", "op")
	var events []string
	for _, m := range msgs {
		events = append(events, m.object("alert").str("event"))
		if m.str("from") != hubFull || m.str("type") != "chat" {
			t.Errorf("alert message: %v", m)
		}
	}
	if !slices.Equal(events, []string{"enter", "exit"}) || msgs[0].str("id") == msgs[1].str("id") {
		t.Errorf("alerts: %v, want enter then exit with their own ids", msgs)
	}
	if a := out.one(t, "alerts", ""); a["count"] != float64(2) || a["from_contact"] != float64(2) {
		t.Errorf("alerts as slixmpp saw them: %v", a)
	}
}
