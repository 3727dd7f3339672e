package hub_test

// Publish-subscribe with the real @xmpp/client (see interop_xmppjs_test.go
// for how the scripts run): XEP-0080 positions through PEP (XEP-0163) to a
// contact that asked for them with XEP-0115 capabilities, and a node on the
// pubsub service (XEP-0060) from creation to unsubscription. The scripts are
// testdata/xmppjs/pubsub_*.mjs.

import (
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

// The position the device publishes.
const (
	fixID        = "fix-1"
	fixLat       = 52.5163
	fixLon       = 13.3777
	fixAccuracy  = 4.5
	fixSpeed     = 12.25
	fixTimestamp = "2025-06-01T12:34:56Z"
)

// fixEnv returns env and the position, for a script's environment
// (FIX_ID, FIX_LAT, ...).
func fixEnv(env ...string) []string {
	return append(env, "FIX_ID="+fixID, "FIX_LAT=52.5163", "FIX_LON=13.3777", "FIX_ACCURACY=4.5",
		"FIX_SPEED=12.25", "FIX_TIMESTAMP="+fixTimestamp)
}

// startPEPScript starts pubsub_pep.mjs on a new hub with a device and an
// operator in group fleet.
func startPEPScript(t *testing.T, env ...string) (*hubtest.Hub, *jsRun) {
	t.Helper()
	peers.Require(t, "xmppjs")
	h := hubtest.Start(t)
	devicePw := h.Account(t, "device", devices.RoleDevice, "fleet")
	operatorPw := h.Account(t, "operator", devices.RoleOperator, "fleet")
	env = append(fixEnv("DEVICE_PASSWORD="+devicePw, "OPERATOR_PASSWORD="+operatorPw), env...)
	return h, startXmppjs(t, h, "pubsub_pep.mjs", env...)
}

// checkCapsQuestion checks what the hub asked about the caps an operator
// announced: one disco#info query from the server for node#ver (XEP-0115
// §6.2), which the operator answered with a result.
func checkCapsQuestion(t *testing.T, e jsEvent) {
	t.Helper()
	asked, _ := e.get("asked").([]any)
	want := e.S("node") + "#" + e.S("ver")
	if len(asked) != 1 {
		t.Fatalf("the hub asked %d disco#info questions about caps it had not seen, want 1 (XEP-0115 §6.2): %s", len(asked), e)
	}
	q := jsEvent(asked[0].(map[string]any))
	if q.S("node") != want || q.S("from") != "localhost" || q.S("answer") != "result" {
		t.Fatalf("caps question %s, want a query from localhost for node %s, answered with a result", q, want)
	}
}

// checkGeolocEvent checks a PEP geoloc notification reported by eventOf.
func checkGeolocEvent(t *testing.T, what string, ev jsEvent, to, id string, fields map[string]string) {
	t.Helper()
	if ev.S("from") != "device@localhost" || ev.S("to") != to || ev.S("type") != "headline" || ev.S("node") != nsGeoloc {
		t.Errorf("%s: %s, want a headline from device@localhost (the owner's bare JID, XEP-0163 §4.3.2) to %s for node %s", what, ev, to, nsGeoloc)
	}
	items, _ := ev.get("items").([]any)
	if len(items) != 1 {
		t.Fatalf("%s: %d items, want 1: %s", what, len(items), ev)
	}
	it := jsEvent(items[0].(map[string]any))
	if it.S("id") != id || it.S("payload.name") != "geoloc" || it.S("payload.ns") != nsGeoloc {
		t.Errorf("%s: item %s, want id %s with a geoloc payload", what, it, id)
	}
	for k, v := range fields {
		if got := it.S("payload.fields." + k); got != v {
			t.Errorf("%s: <%s> %q, want %q", what, k, got, v)
		}
	}
}

var fixFields = map[string]string{"lat": "52.5163", "lon": "13.3777", "accuracy": "4.5", "speed": "12.25", "timestamp": fixTimestamp}

// checkFix checks the position the hub stored for the device.
func checkFix(t *testing.T, h *hubtest.Hub, when string) {
	t.Helper()
	p, ok := h.Geo.Latest("device@localhost")
	if !ok {
		t.Fatalf("%s: no position stored for device@localhost", when)
	}
	ts, _ := time.Parse(time.RFC3339, fixTimestamp)
	g := p.Geoloc
	if p.Lat != fixLat || p.Lon != fixLon || p.Source != "pep" || !p.Time.Equal(ts) ||
		g.Accuracy == nil || *g.Accuracy != fixAccuracy || g.Speed == nil || *g.Speed != fixSpeed ||
		g.Timestamp == nil || !g.Timestamp.Equal(ts) {
		t.Errorf("%s: stored %+v, want %v,%v accuracy %v speed %v at %s from pep", when, p, fixLat, fixLon, fixAccuracy, fixSpeed, fixTimestamp)
	}
}

// TestXmppjsPubSubPEPGeoloc: an @xmpp/client device publishes an XEP-0080
// position to its own PEP node; an @xmpp/client operator of its group that
// announced geoloc+notify in its caps receives it once, and the hub stores
// it.
func TestXmppjsPubSubPEPGeoloc(t *testing.T) {
	h, r := startPEPScript(t)
	online := r.Next("online")
	if online.S("device") != "device@localhost/js-tracker" || online.S("operator") != "operator@localhost/js-console" {
		t.Fatalf("bound %s", online)
	}
	checkCapsQuestion(t, r.Next("operator.caps"))
	if p := r.Next("operator.device-presence"); p.S("from") != "device@localhost/js-tracker" {
		t.Errorf("the operator saw %s, want the device's presence through group fleet", p)
	}
	pub := r.Next("device.published")
	if pub.S("outcome") != "result" || pub.S("id") != fixID || pub.S("node") != nsGeoloc {
		t.Fatalf("publish: %s, want a result with item %s of node %s (XEP-0060 §7.1.2)", pub, fixID, nsGeoloc)
	}
	if pub.S("from") != "" && pub.S("from") != "device@localhost" {
		t.Errorf("publish result from %q: the request had no 'to', so no 'from' or the account's bare JID", pub.S("from"))
	}
	checkFix(t, h, "after the publish")
	checkGeolocEvent(t, "notification", r.Next("operator.event"), "operator@localhost/js-console", fixID, fixFields)
	if extra, _ := r.Next("operator.after-event").get("events").([]any); len(extra) != 0 {
		t.Errorf("the operator got the notification more than once: %v", extra)
	}
	r.MustSucceed()
}

// TestXmppjsPubSubInvalidGeoloc: after a good position, an @xmpp/client
// device publishes one with lon 200; the hub refuses it with bad-request
// naming lon, notifies nobody, and keeps the good position.
func TestXmppjsPubSubInvalidGeoloc(t *testing.T) {
	h, r := startPEPScript(t, "BAD_LON=200")
	checkCapsQuestion(t, r.Next("operator.caps"))
	if pub := r.Next("device.published"); pub.S("outcome") != "result" {
		t.Fatalf("the good publish: %s", pub)
	}
	checkGeolocEvent(t, "notification of the good position", r.Next("operator.event"), "operator@localhost/js-console", fixID, fixFields)

	bad := r.Next("device.invalid")
	e := bad.E("error")
	if bad.S("outcome") != "error" || e.S("condition") != "bad-request" || e.S("type") != "modify" {
		t.Fatalf("publish with lon 200: %s, want an IQ error of type modify, bad-request", bad)
	}
	if !strings.Contains(e.S("wireText"), "lon") {
		t.Errorf("the error's <text/> is %q: it does not name lon", e.S("wireText"))
	}
	// What an application using @xmpp/client sees: StanzaError.text.
	// @xmpp/error reads the children of <error/> in the order RFC 6120
	// gives them (§8.3.2 and the jabber:client schema, A.5: the defined
	// condition, then <text/>, then the application-specific condition).
	if !strings.Contains(e.S("text"), "lon") {
		t.Errorf("@xmpp/client's StanzaError has text %q, which does not name lon; <error/> held %v: "+
			"RFC 6120 §8.3.2 puts <text/> before the application-specific condition", e.S("text"), e.Strings("children"))
	}
	if e.S("app") != "invalid-payload" {
		t.Errorf("application condition %q, want invalid-payload (XEP-0060 §7.1.3.5)", e.S("app"))
	}
	if got, _ := r.Next("operator.after-invalid").get("events").([]any); len(got) != 0 {
		t.Errorf("the operator was notified of the refused item: %v", got)
	}
	items := r.Next("device.items")
	if ids := items.Strings("ids"); len(ids) != 1 || ids[0] != fixID {
		t.Errorf("the device's geoloc node after the refusal holds %v, want just %s", ids, fixID)
	}
	r.MustSucceed()
	checkFix(t, h, "after the refused publish")
}

// TestXmppjsPubSubServiceNode: an @xmpp/client operator creates a node on
// the pubsub service and publishes; another @xmpp/client subscribes with its
// bare JID, receives the items in order, reads them, sees a retraction,
// unsubscribes, and gets nothing more.
func TestXmppjsPubSubServiceNode(t *testing.T) {
	peers.Require(t, "xmppjs")
	h := hubtest.Start(t)
	dispatchPw := h.Account(t, "dispatch", devices.RoleOperator)
	watcherPw := h.Account(t, "watcher", devices.RoleOperator)
	const node = "fleet/notices"
	r := startXmppjs(t, h, "pubsub_service.mjs", "DISPATCH_PASSWORD="+dispatchPw, "WATCHER_PASSWORD="+watcherPw,
		"SERVICE=pubsub.localhost", "NODE="+node)
	const watcher = "watcher@localhost"
	r.Next("online")

	if e := r.Next("dispatch.created"); e.S("outcome") != "result" || e.S("from") != "pubsub.localhost" {
		t.Fatalf("create: %s, want a result from pubsub.localhost", e)
	}
	sub := r.Next("watcher.subscribed")
	if s := sub.E("subscription"); sub.S("outcome") != "result" || s.S("node") != node || s.S("jid") != watcher ||
		s.S("subscription") != "subscribed" {
		t.Fatalf("subscribe: %s, want subscription='subscribed' for %s on %s (XEP-0060 §6.1.2)", sub, watcher, node)
	}
	if got, _ := r.Next("watcher.after-subscribe").get("events").([]any); len(got) != 0 {
		t.Errorf("notifications on subscribing to an empty node: %v", got)
	}

	// Two items, notified in order.
	for _, id := range []string{"n1", "n2"} {
		if p := r.Next("dispatch.published"); p.S("outcome") != "result" || p.S("id") != id {
			t.Fatalf("publish %s: %s", id, p)
		}
	}
	texts := map[string]string{"n1": "road closed at gate 4", "n2": "gate 4 open again"}
	for _, id := range []string{"n1", "n2"} {
		ev := r.Next("watcher.event")
		items, _ := ev.get("items").([]any)
		// To the subscribed JID, or the resource the hub routed it to.
		if to := ev.S("to"); ev.S("from") != "pubsub.localhost" || to != watcher && to != watcher+"/js-watcher" || ev.S("node") != node || len(items) != 1 {
			t.Errorf("notification %s: %s, want one item of %s from pubsub.localhost to %s", id, ev, node, watcher)
			continue
		}
		it := jsEvent(items[0].(map[string]any))
		if it.S("id") != id || it.S("payload.text") != texts[id] || it.S("payload.ns") != "urn:geohub:interop:notice" {
			t.Errorf("notification %s: item %s, want %s %q (in publish order)", id, it, id, texts[id])
		}
		if p := it.S("publisher"); p != "" && p != "dispatch@localhost" {
			t.Errorf("notification %s: publisher %q, want dispatch@localhost", id, p)
		}
	}

	// max_items=1: the last one; then both.
	for _, want := range []string{"n2", "n1,n2"} {
		e := r.Next("watcher.items")
		var ids []string
		items, _ := e.get("items").([]any)
		for _, it := range items {
			ids = append(ids, jsEvent(it.(map[string]any)).S("id"))
		}
		if e.S("outcome") != "result" || strings.Join(ids, ",") != want {
			t.Errorf("items (max_items %q): %s, want %s", e.S("max"), e, want)
		}
	}

	if e := r.Next("dispatch.retracted"); e.S("outcome") != "result" {
		t.Fatalf("retract: %s", e)
	}
	ev := r.Next("watcher.retract-event")
	if ev.S("node") != node || len(ev.Strings("retracts")) != 1 || ev.Strings("retracts")[0] != "n1" {
		t.Errorf("retract notification: %s, want <retract id='n1'/> in items of %s (XEP-0060 §7.2.2.1)", ev, node)
	}

	if e := r.Next("watcher.unsubscribed"); e.S("outcome") != "result" {
		t.Fatalf("unsubscribe: %s", e)
	}
	if e := r.Next("watcher.subscriptions"); e.S("outcome") != "result" || len(e.Strings("nodes")) != 0 {
		t.Errorf("subscriptions after unsubscribing: %s, want none", e)
	}
	if p := r.Next("dispatch.published"); p.S("outcome") != "result" || p.S("id") != "n3" {
		t.Fatalf("publish n3: %s", p)
	}
	if got, _ := r.Next("watcher.after-unsubscribe").get("events").([]any); len(got) != 0 {
		t.Errorf("the former subscriber was notified: %v", got)
	}
	r.MustSucceed()
}

// TestXmppjsPubSubLastItemAtLogin: an @xmpp/client operator that logs in
// after the device published gets the device's last geoloc item once its
// caps say geoloc+notify (send_last_published_item on_sub_and_presence).
func TestXmppjsPubSubLastItemAtLogin(t *testing.T) {
	peers.Require(t, "xmppjs")
	h := hubtest.Start(t)
	devicePw := h.Account(t, "device", devices.RoleDevice, "fleet")
	operatorPw := h.Account(t, "operator", devices.RoleOperator, "fleet")
	r := startXmppjs(t, h, "pubsub_last.mjs", "DEVICE_PASSWORD="+devicePw, "OPERATOR_PASSWORD="+operatorPw,
		"OLD_LAT=48.8584", "OLD_LON=2.2945", "NEW_LAT=48.8606", "NEW_LON=2.3376")

	pub := r.Next("device.published")
	newID := pub.S("new.id")
	if pub.S("old.outcome") != "result" || pub.S("old.id") != "fix-old" || pub.S("new.outcome") != "result" || newID == "" || newID == "fix-old" {
		t.Fatalf("publishes: %s, want fix-old and an id the hub made for the item without one (XEP-0060 §7.1.2)", pub)
	}
	if p, ok := h.Geo.Latest("device@localhost"); !ok || p.Lat != 48.8606 || p.Lon != 2.3376 {
		t.Errorf("stored position %+v, want the second one", p)
	}
	checkCapsQuestion(t, r.Next("operator.caps"))
	checkGeolocEvent(t, "last item", r.Next("operator.event"), "operator@localhost/js-console", newID,
		map[string]string{"lat": "48.8606", "lon": "2.3376"})
	if extra, _ := r.Next("operator.after-event").get("events").([]any); len(extra) != 0 {
		t.Errorf("more than the last item arrived: %v", extra)
	}
	r.MustSucceed()
}
