package hub_test

// Publish-subscribe and PEP with slixmpp (xep_0060, xep_0163, xep_0115), and
// the same scripts run against a private Prosody 0.12, the reference GeoHub
// is compared with; docs/prosody-comparison.md lists the differences these
// tests pin down.

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

// slixTarget is where a script connects: a hub or a Prosody.
type slixTarget struct {
	addr, certFile string
}

func hubTarget(h *hubtest.Hub) slixTarget { return slixTarget{h.Addr, h.CertFile} }

func prosodyTarget(p *peers.Prosody) slixTarget { return slixTarget{p.Addr, p.CertFile} }

// runSlixmppOn runs testdata/slixmpp/script against srv and fails the
// test, showing the script's output, unless it exits 0 with only JSON lines
// on stdout. The pubsub scripts go through several phases: 90 s in all.
func runSlixmppOn(t *testing.T, srv slixTarget, script string, args ...string) slixOutput {
	t.Helper()
	host, port, err := net.SplitHostPort(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	argv := append([]string{filepath.Join("testdata", "slixmpp", script),
		"--host", host, "--port", port, "--cafile", srv.certFile}, args...)
	cmd := exec.CommandContext(ctx, peers.Python, argv...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in testdata
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	out := slixOutput{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", script, err, out.stdout, out.stderr)
	}
	for _, raw := range strings.Split(strings.TrimSpace(out.stdout), "\n") {
		if raw == "" {
			continue
		}
		var l slixLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("%s printed %q, not JSON: %v\nstderr:\n%s", script, raw, err, out.stderr)
		}
		out.lines = append(out.lines, l)
	}
	t.Logf("%s printed:\n%s", script, out.stdout)
	if os.Getenv("GEOHUB_TEST_LOG") != "" {
		t.Logf("%s logged:\n%s", script, out.stderr)
	}
	return out
}

// pubsubEvents returns the notifications received in a phase of a script.
func (o slixOutput) pubsubEvents(phase string) []slixLine {
	var got []slixLine
	for _, l := range o.find("event", "") {
		if l.str("phase") == phase {
			got = append(got, l)
		}
	}
	return got
}

// geoField returns a field of an event's geoloc payload.
func (l slixLine) geoField(field string) string {
	g, _ := l["geoloc"].(map[string]any)
	s, _ := g[field].(string)
	return s
}

// slixIDs lists the "id" of each line.
func slixIDs(lines []slixLine) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.str("id"))
	}
	return out
}

// slixPEPRun is what pubsub_pep.py saw, with the operator's full JIDs.
type slixPEPRun struct {
	out       slixOutput
	op, late  string // the operator's two resources
	device    string
	mech      string              // the SASL mechanism slixmpp chose
	publishes map[string]slixLine // by item id
}

func runSlixPEP(t *testing.T, srv slixTarget, devicePW, opPW, strangerPW string, extra ...string) slixPEPRun {
	t.Helper()
	args := append([]string{"--user", "car-17", devicePW, "--user", "alice", opPW, "--stranger", "stranger", strangerPW}, extra...)
	out := runSlixmppOn(t, srv, "pubsub_pep.py", args...)
	s := slixPEPRun{out: out, publishes: map[string]slixLine{}}
	for _, l := range out.find("session", "alice") {
		if strings.HasSuffix(l.str("jid"), "/late") {
			s.late = l.str("jid")
		} else {
			s.op = l.str("jid")
		}
	}
	s.device = out.one(t, "session", "car-17").str("jid")
	s.mech = out.one(t, "session", "car-17").str("mech")
	for _, p := range out.find("publish", "car-17") {
		s.publishes[p.str("id")] = p
	}
	for _, phase := range []string{"valid", "invalid", "login", "probes"} {
		found := false
		for _, m := range out.find("marker", "") {
			found = found || m.str("phase") == phase
		}
		if !found {
			t.Fatalf("the script did not finish phase %s", phase)
		}
	}
	return s
}

// checkSlixFix1 checks an event carrying item fix1 as the device published it.
func checkSlixFix1(t *testing.T, e slixLine) {
	t.Helper()
	if e.str("kind") != "publish" || e.str("from") != "car-17@localhost" || e.str("node") != nsGeoloc || e.str("id") != "fix1" || e.str("type") != "headline" {
		t.Errorf("event: %v, want a headline from car-17@localhost, node %s, item fix1", e, nsGeoloc)
	}
	for k, v := range map[string]string{"lat": "52.52", "lon": "13.405", "accuracy": "5", "description": "Alexanderplatz", "timestamp": "2024-05-01T12:00:00Z"} {
		if got := e.geoField(k); got != v {
			t.Errorf("event's geoloc %s = %q, want %q (%v)", k, got, v, e["geoloc"])
		}
	}
}

func TestSlixmppPubSubPEPGeoloc(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	dpw := h.Account(t, "car-17", devices.RoleDevice, "fleet")
	opw := h.Account(t, "alice", devices.RoleOperator, "fleet")
	// Shared groups give alice a both-way subscription to car-17; the hub
	// asks for caps itself, from its domain.
	spw := h.Account(t, "stranger", devices.RoleOperator, "elsewhere")
	s := runSlixPEP(t, hubTarget(h), dpw, opw, spw, "--caps-asker", "localhost")

	t.Run("valid geoloc reaches the operator once", func(t *testing.T) {
		if p := s.publishes["fix1"]; p.str("outcome") != "result" || p.str("result_id") != "fix1" {
			t.Errorf("publish: %v", p)
		}
		evs := s.out.pubsubEvents("valid")
		if len(evs) != 1 {
			t.Fatalf("events for one publish: %d, want 1 (to the full JID that asked for geoloc+notify): %v", len(evs), evs)
		}
		checkSlixFix1(t, evs[0])
		if evs[0].str("to") != s.op {
			t.Errorf("event to %q, want the operator's full JID %q", evs[0].str("to"), s.op)
		}
		p, ok := h.Geo.Latest("car-17@localhost")
		if !ok || p.Lat != 52.52 || p.Lon != 13.405 || p.Source != "pep" || p.Geoloc.Accuracy == nil || *p.Geoloc.Accuracy != 5 {
			t.Errorf("h.Geo.Latest: %+v %v, want 52.52 13.405 from pep", p, ok)
		}
	})

	t.Run("invalid geoloc is refused", func(t *testing.T) {
		p := s.publishes["bad"]
		if p.str("outcome") != "error" || p.str("condition") != "bad-request" || p.str("app") != "invalid-payload" || !strings.Contains(p.str("text"), "lat") {
			t.Errorf("publishing lat 95: %v, want an IqError bad-request (invalid-payload) whose text names lat", p)
		}
		if evs := s.out.pubsubEvents("invalid"); len(evs) != 0 {
			t.Errorf("the operator got events for a refused item: %v", evs)
		}
		if p, _ := h.Geo.Latest("car-17@localhost"); p.Lat != 52.52 {
			t.Errorf("stored position after the refusal: %+v", p)
		}
	})

	t.Run("a resource coming online gets the last item", func(t *testing.T) {
		evs := s.out.pubsubEvents("login")
		if len(evs) != 1 {
			t.Fatalf("events at the new resource: %d, want 1: %v", len(evs), evs)
		}
		checkSlixFix1(t, evs[0])
		if evs[0].str("to") != s.late {
			t.Errorf("last item to %q, want %q", evs[0].str("to"), s.late)
		}
		if evs := s.out.pubsubEvents("after"); len(evs) != 0 {
			t.Errorf("the first resource got events when the second came online: %v", evs)
		}
	})

	t.Run("who may read and publish", func(t *testing.T) {
		s.wantProbe(t, "contact reads", "result", "fix1")
		s.wantProbe(t, "contact publishes", "forbidden", "")
		// The presence access model: XEP-0060 §6.1.3.2 (subscribe) and the
		// matching case of §6.5.9 (retrieve items).
		s.wantProbe(t, "stranger reads", "not-authorized", "presence-subscription-required")
		s.wantProbe(t, "stranger subscribes", "not-authorized", "presence-subscription-required")
		if evs := s.out.pubsubEvents("probes"); len(evs) != 0 {
			t.Errorf("events during the probes: %v", evs)
		}
	})
	for _, e := range s.out.pubsubEvents("valid") {
		if e.str("publisher") != "" {
			t.Errorf("PEP event with a publisher attribute: %v", e)
		}
	}
	if s.mech != "SCRAM-SHA-256" {
		t.Errorf("slixmpp logged in with %s, want SCRAM-SHA-256", s.mech)
	}
}

// wantProbe checks a probe's outcome: "result" with the item ids listed in
// detail (comma-separated), or an error condition with the pubsub#errors
// condition detail.
func (s slixPEPRun) wantProbe(t *testing.T, name, want, detail string) {
	t.Helper()
	var p slixLine
	for _, l := range s.out.find("probe", "") {
		if l.str("name") == name {
			p = l
		}
	}
	if p == nil {
		t.Errorf("no probe %q", name)
		return
	}
	if want == "result" {
		var got []string
		for _, id := range p["ids"].([]any) {
			got = append(got, id.(string))
		}
		if p.str("outcome") != "result" || strings.Join(got, ",") != detail {
			t.Errorf("%s: %v, want a result with items %s", name, p, detail)
		}
		return
	}
	if p.str("outcome") != "error" || p.str("condition") != want || p.str("app") != detail {
		t.Errorf("%s: %v, want error %s %s", name, p, want, detail)
	}
}

// Prosody, the reference: the same script, with the two subscribing to each
// other's presence first (Prosody has no shared groups). What differs from
// GeoHub is asserted here as Prosody does it; docs/prosody-comparison.md
// says why GeoHub does otherwise.
func TestProsodySlixmppPubSubPEPGeoloc(t *testing.T) {
	peers.Require(t, "slixmpp")
	peers.Require(t, "prosody")
	p := peers.StartProsody(t, peers.ProsodyOptions{Users: map[string]string{
		"car-17": "car-pw", "alice": "alice-pw", "stranger": "stranger-pw"}})
	// Prosody asks for caps from each account's PEP service that got the
	// presence: alice's own and car-17's.
	s := runSlixPEP(t, prosodyTarget(p), "car-pw", "alice-pw", "stranger-pw", "--subscribe",
		"--caps-asker", "car-17@localhost", "--caps-asker", "alice@localhost")

	t.Run("valid geoloc arrives twice", func(t *testing.T) {
		if p := s.publishes["fix1"]; p.str("outcome") != "result" || p.str("result_id") != "fix1" {
			t.Errorf("publish: %v", p)
		}
		// Once to the full JID (caps +notify), once to the bare JID (the
		// presence subscription, delivered to the resource as well).
		evs := s.out.pubsubEvents("valid")
		if len(evs) != 2 {
			t.Fatalf("events for one publish: %d, want 2: %v", len(evs), evs)
		}
		to := map[string]bool{}
		for _, e := range evs {
			checkSlixFix1(t, e)
			to[e.str("to")] = true
			if e.str("publisher") != "car-17@localhost" {
				t.Errorf("Prosody's PEP event without the publisher: %v", e)
			}
		}
		if !to[s.op] || !to["alice@localhost"] {
			t.Errorf("events to %v, want one to %s and one to alice@localhost", to, s.op)
		}
	})

	t.Run("invalid geoloc is accepted and forwarded", func(t *testing.T) {
		if p := s.publishes["bad"]; p.str("outcome") != "result" {
			t.Errorf("publishing lat 95: %v, want a result (Prosody does not look into payloads)", p)
		}
		evs := s.out.pubsubEvents("invalid")
		if len(evs) != 2 {
			t.Fatalf("events for the invalid item: %d, want 2: %v", len(evs), evs)
		}
		for _, e := range evs {
			if e.str("id") != "bad" || e.geoField("lat") != "95" {
				t.Errorf("event: %v", e)
			}
		}
	})

	t.Run("a resource coming online gets the last item", func(t *testing.T) {
		evs := s.out.pubsubEvents("login")
		if len(evs) != 1 || evs[0].str("id") != "bad" || evs[0].str("to") != s.late {
			t.Errorf("events at the new resource: %v, want the last item (bad) once, to %s", evs, s.late)
		}
	})

	t.Run("who may read and publish", func(t *testing.T) {
		s.wantProbe(t, "contact reads", "result", "bad")
		s.wantProbe(t, "contact publishes", "forbidden", "")
		s.wantProbe(t, "stranger reads", "forbidden", "")
		s.wantProbe(t, "stranger subscribes", "forbidden", "")
		if evs := s.out.pubsubEvents("probes"); len(evs) != 0 {
			t.Errorf("events during the probes: %v", evs)
		}
	})
	// internal_hashed keeps SCRAM-SHA-1 keys only.
	if s.mech != "SCRAM-SHA-1" {
		t.Errorf("slixmpp logged in with %s, want SCRAM-SHA-1", s.mech)
	}
}

// slixServiceRun is what pubsub_service.py saw.
type slixServiceRun struct{ out slixOutput }

func runSlixService(t *testing.T, srv slixTarget, ownerPW, watcherPW string) slixServiceRun {
	t.Helper()
	out := runSlixmppOn(t, srv, "pubsub_service.py", "--user", "dispatch", ownerPW, "--user", "watcher", watcherPW)
	for _, phase := range []string{"subscribe", "publish", "probes", "retract", "purge", "unsubscribed"} {
		found := false
		for _, m := range out.find("marker", "") {
			found = found || m.str("phase") == phase
		}
		if !found {
			t.Fatalf("the script did not finish phase %s", phase)
		}
	}
	for _, m := range out.find("missing", "") {
		t.Errorf("an expected notification never came: %v", m)
	}
	return slixServiceRun{out}
}

func (s slixServiceRun) step(t *testing.T, name string) slixLine {
	t.Helper()
	for _, l := range s.out.find("step", "") {
		if l.str("name") == name {
			return l
		}
	}
	t.Fatalf("no step %q", name)
	return nil
}

func (s slixServiceRun) wantStep(t *testing.T, name, condition string) {
	t.Helper()
	l := s.step(t, name)
	if condition == "" && l.str("outcome") != "result" {
		t.Errorf("%s: %v, want a result", name, l)
	}
	if condition != "" && (l.str("outcome") != "error" || l.str("condition") != condition) {
		t.Errorf("%s: %v, want error %s", name, l, condition)
	}
}

func (s slixServiceRun) items(t *testing.T, phase string) string {
	t.Helper()
	for _, l := range s.out.find("items", "") {
		if l.str("phase") == phase {
			var got []string
			for _, id := range l["ids"].([]any) {
				got = append(got, id.(string))
			}
			return strings.Join(got, ",")
		}
	}
	t.Errorf("no items after %s", phase)
	return ""
}

// checkSlixServiceNode checks what GeoHub and Prosody do alike; publisher is
// the publisher attribute each item event carries ("" for none).
func checkSlixServiceNode(t *testing.T, s slixServiceRun, publisher string) {
	t.Helper()
	for _, name := range []string{"create", "publish p1", "publish p2", "publish p3", "items", "retract p2",
		"items after retract", "purge", "items after purge", "unsubscribe", "own subscriptions", "publish p4", "delete"} {
		s.wantStep(t, name, "")
	}
	sub := s.step(t, "subscribe")
	if sub.str("outcome") != "result" || sub.str("subscription") != "subscribed" || sub.str("jid") != "watcher@localhost" || sub.str("node") != "fleet/positions" {
		t.Errorf("subscribe: %v", sub)
	}
	from := func(e slixLine) bool {
		return e.str("from") == "pubsub.localhost" && e.str("to") == "watcher@localhost" && e.str("node") == "fleet/positions" && e.str("type") == "headline"
	}

	evs := s.out.pubsubEvents("publish")
	if got := strings.Join(slixIDs(evs), ","); got != "p2,p3" {
		t.Errorf("notifications of p2 and p3: %v", evs)
	}
	for i, e := range evs {
		lat := []string{"52.2", "52.3"}[min(i, 1)]
		if !from(e) || e.str("kind") != "publish" || e.geoField("lat") != lat || e.str("publisher") != publisher {
			t.Errorf("notification: %v, want lat %s, publisher %q", e, lat, publisher)
		}
	}
	if got := s.items(t, "publish"); got != "p1,p2,p3" {
		t.Errorf("items: %s, want p1,p2,p3", got)
	}

	if evs := s.out.pubsubEvents("retract"); len(evs) != 1 || evs[0].str("kind") != "retract" || evs[0].str("id") != "p2" || !from(evs[0]) {
		t.Errorf("retract notifications: %v, want one for p2", evs)
	}
	if got := s.items(t, "retract"); got != "p1,p3" {
		t.Errorf("items after retract: %s, want p1,p3", got)
	}
	if evs := s.out.pubsubEvents("purge"); len(evs) != 1 || evs[0].str("kind") != "purge" || !from(evs[0]) {
		t.Errorf("purge notifications: %v, want one", evs)
	}
	if got := s.items(t, "purge"); got != "" {
		t.Errorf("items after purge: %s, want none", got)
	}
	if nodes, _ := s.out.one(t, "subscriptions", "")["nodes"].([]any); len(nodes) != 0 {
		t.Errorf("subscriptions after unsubscribing: %v", nodes)
	}
	if evs := s.out.pubsubEvents("unsubscribed"); len(evs) != 0 {
		t.Errorf("notifications after unsubscribing: %v", evs)
	}

	// What the watcher (not owner, not publisher) may not do.
	for _, name := range []string{"probe publish by watcher", "probe retract by watcher", "probe purge by watcher", "probe configure by watcher"} {
		s.wantStep(t, name, "forbidden")
	}
	for _, name := range []string{"probe subscribe missing node", "probe items missing node", "probe retract missing item"} {
		s.wantStep(t, name, "item-not-found")
	}
	if evs := s.out.pubsubEvents("probes"); len(evs) != 0 {
		t.Errorf("notifications during the probes: %v", evs)
	}
}

func TestSlixmppPubSubServiceNode(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	opw := h.Account(t, "dispatch", devices.RoleOperator)
	wpw := h.Account(t, "watcher", devices.RoleOperator)
	s := runSlixService(t, hubTarget(h), opw, wpw)
	checkSlixServiceNode(t, s, "dispatch@localhost")

	// On subscription the last item (on_sub, the default for service nodes).
	if evs := s.out.pubsubEvents("subscribe"); len(evs) != 1 || evs[0].str("id") != "p1" || evs[0].geoField("lat") != "52.1" {
		t.Errorf("events on subscription: %v, want the last item p1", evs)
	}
	if sub := s.step(t, "subscribe"); sub.str("subid") == "" {
		t.Errorf("subscription without a subid: %v", sub)
	}
	// Operators create nodes; the watcher is one.
	s.wantStep(t, "probe create by watcher", "")
	s.wantStep(t, "probe delete own node", "")
	// Refusals say why.
	for _, name := range []string{"probe retract by watcher", "probe purge by watcher", "probe configure by watcher", "probe items missing node"} {
		if st := s.step(t, name); st.str("text") == "" {
			t.Errorf("%s: refused without a text: %v", name, st)
		}
	}
	// A geoloc payload on a service node is the publisher's position.
	if p, ok := h.Geo.Latest("dispatch@localhost"); !ok || p.Lat != 52.4 || p.Source != "pubsub/fleet/positions" {
		t.Errorf("h.Geo.Latest(dispatch): %+v %v, want p4 (52.4) from pubsub/fleet/positions", p, ok)
	}
}

func TestProsodySlixmppPubSubServiceNode(t *testing.T) {
	peers.Require(t, "slixmpp")
	peers.Require(t, "prosody")
	// Only Prosody's admins create nodes on its pubsub component.
	p := peers.StartProsody(t, peers.ProsodyOptions{
		Users:  map[string]string{"dispatch": "dispatch-pw", "watcher": "watcher-pw"},
		Admins: []string{"dispatch@localhost"},
	})
	s := runSlixService(t, prosodyTarget(p), "dispatch-pw", "watcher-pw")
	checkSlixServiceNode(t, s, "")

	// send_last_published_item defaults to never: nothing on subscription.
	if evs := s.out.pubsubEvents("subscribe"); len(evs) != 0 {
		t.Errorf("events on subscription: %v, want none", evs)
	}
	if sub := s.step(t, "subscribe"); sub.str("subid") != "" {
		t.Errorf("Prosody gave a subid: %v", sub)
	}
	s.wantStep(t, "probe create by watcher", "forbidden")
	for _, name := range []string{"probe retract by watcher", "probe purge by watcher", "probe configure by watcher", "probe items missing node"} {
		if st := s.step(t, name); st.str("text") != "" {
			t.Errorf("%s: Prosody gave a text: %v", name, st)
		}
	}
}
