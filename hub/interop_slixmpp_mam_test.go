package hub_test

// Carbons and the message archive with slixmpp's xep_0280 and xep_0313
// plugins (testdata/slixmpp/mam.py): an operator's phone and desktop both
// see a conversation, a chat command and an alert; a laptop that was away
// catches up through MAM with RSM paging; and the device's trail comes
// back from a MAM query on its geoloc node.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

func TestSlixmppCarbonsAndMAM(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	carPW := h.Account(t, "car", devices.RoleDevice, "fleet")
	opPW := h.Account(t, "op", devices.RoleOperator, "fleet")
	friendPW := h.Account(t, "friend", devices.RoleOperator, "fleet")
	addFence(t, h, `{"type":"Feature","properties":{"name":"Depot","radius":200,"groups":["fleet"],
		"events":["enter"],"notify":["op@localhost"]},"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)

	out := runSlixmpp(t, h, "mam.py", "--user", "car", carPW, "--user", "op", opPW, "--user", "friend", friendPW)

	carbon := func(who, dir, body string) slixLine {
		for _, l := range out.find("carbon", who) {
			if l.str("dir") == dir && (body == "" && l.object("alert") != nil || body != "" && l.str("body") == body) {
				return l
			}
		}
		t.Errorf("%s: no %s carbon of %q\n%s", who, dir, body, out.stdout)
		return nil
	}
	if c := carbon("phone", "received", "hello desktop"); c != nil && (c.str("to") != "op@localhost/desktop" || !strings.HasPrefix(c.str("from"), "friend@localhost/")) {
		t.Errorf("received carbon: %v", c)
	}
	if c := carbon("desktop", "sent", "hi, from the phone"); c != nil && (c.str("from") != "op@localhost/phone" || c.str("to") != "friend@localhost") {
		t.Errorf("sent carbon: %v", c)
	}
	carbon("phone", "sent", "where car")
	if c := carbon("phone", "received", ""); c != nil && c.str("from") != "geohub@localhost/hub" {
		t.Errorf("alert carbon: %v", c)
	}
	// Each resource got each thing once: the desktop no carbon of what it
	// got itself.
	for _, l := range out.find("carbon", "desktop") {
		if l.str("dir") == "received" {
			t.Errorf("the desktop got a received carbon: %v", l)
		}
	}

	// The laptop caught up: everything the account sent and received, in
	// order, 3 per page, the last page complete.
	var bodies []string
	for _, l := range out.find("mam", "laptop") {
		b := l.str("body")
		if l.object("alert") != nil {
			b = "ALERT"
		}
		if strings.HasPrefix(b, "car at ") || strings.Contains(b, "car") && strings.Contains(l.str("from"), "geohub@") {
			b = "ANSWER"
		}
		bodies = append(bodies, b)
	}
	if got := strings.Join(bodies, "|"); got != "hello desktop|hi, from the phone|where car|ANSWER|ALERT" {
		t.Errorf("MAM catch-up: %s\n%s", got, out.stdout)
	}
	pages := out.find("mam_page", "laptop")
	if len(pages) != 2 || pages[0]["n"] != 3.0 || pages[1]["n"] != 2.0 || pages[0].str("complete") == "true" || pages[1].str("complete") != "true" {
		t.Errorf("MAM pages: %v", pages)
	}
	last := out.one(t, "mam_last", "")
	if ids, _ := last["ids"].([]any); len(ids) != 2 || len(bodies) != 5 || ids[1] != out.find("mam", "laptop")[4].str("id") {
		t.Errorf("last page backwards: %v", last)
	}

	// The trail through MAM is the trail the hub stores, page by page.
	pts := h.Geo.TrailPoints("car@localhost", time.Unix(0, 0), time.Now().Add(time.Hour))
	trail := out.find("trail", "")
	if len(pts) != 11 || len(trail) != len(pts) {
		t.Fatalf("trail: %d points over MAM, %d stored\n%s", len(trail), len(pts), out.stdout)
	}
	for i, p := range pts {
		l := trail[i]
		if l.str("lat") != fmt.Sprint(p.Lat) || l.str("lon") != fmt.Sprint(p.Lon) || l.str("speed") != fmt.Sprint(*p.Speed) {
			t.Errorf("point %d: MAM %v, stored %+v", i, l, p)
		}
		if at, err := time.Parse(time.RFC3339Nano, l.str("timestamp")); err != nil || !at.Equal(p.Time) {
			t.Errorf("point %d: MAM time %s, stored %v", i, l.str("timestamp"), p.Time)
		}
	}
	if n := len(out.find("trail_page", "")); n != 3 {
		t.Errorf("%d trail pages of 4, want 3", n)
	}
	if w := out.one(t, "trail_window", "")["timestamps"].([]any); len(w) != 3 {
		t.Errorf("trail window: %v", w)
	}
}
