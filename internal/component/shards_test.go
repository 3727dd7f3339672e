package component_test

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

// fleet is two GeoHub instances behind one ejabberd: geo.localhost shared
// out by bare_source, each instance at a domain of its own too, the
// fences shared through ejabberd's pubsub.localhost.
type fleet struct {
	e          *peers.Ejabberd
	bin        string
	data       [2]string
	hubs       [2]*servetest.Hub
	tokens     [2]string // op's API tokens
	secretFile string
	users      map[string]string
	devices    []string
	cert       []byte
}

func instanceDomain(i int) string { return fmt.Sprintf("geo-%d.localhost", i+1) }

func newFleet(t *testing.T, devices int) *fleet {
	t.Helper()
	f := &fleet{users: map[string]string{"op": "op-pass"}}
	for i := range devices {
		n := fmt.Sprintf("van-%d", i+1)
		f.devices = append(f.devices, n)
		f.users[n] = "pw-" + n
	}
	f.e = peers.StartEjabberd(t, peers.EjabberdOptions{Users: f.users,
		Components: map[string]string{componentDomain: secret, instanceDomain(0): secret, instanceDomain(1): secret},
		Balancing:  map[string]string{componentDomain: "bare_source"}, BalancedOver: 2})
	var err error
	if f.cert, err = os.ReadFile(f.e.CertFile); err != nil {
		t.Fatal(err)
	}
	f.bin = servetest.Build(t, "../..")
	f.secretFile = filepath.Join(t.TempDir(), "secret")
	os.WriteFile(f.secretFile, []byte(secret), 0o600)
	for i := range 2 {
		f.data[i] = filepath.Join(t.TempDir(), fmt.Sprintf("data%d", i+1))
		servetest.AddAccount(t, f.bin, f.data[i], "op", "--role", "admin")
		for _, n := range f.devices {
			servetest.AddAccount(t, f.bin, f.data[i], n, "--group", "fleet")
		}
		for _, w := range strings.Fields(servetest.Run(t, "", f.bin, "token", "add", "test", "--account", "op", "--data", f.data[i])) {
			if strings.HasPrefix(w, "gh_") {
				f.tokens[i] = w
			}
		}
		f.start(t, i)
	}
	return f
}

// start runs instance i (again) and waits until both its links are up.
func (f *fleet) start(t *testing.T, i int) {
	t.Helper()
	f.hubs[i] = servetest.Start(t, f.bin, f.data[i], "--c2s", "", "--c2s-tls", "",
		"--component", componentDomain, "--upstream", f.e.ComponentAddrs[componentDomain], "--component-secret-file", f.secretFile,
		"--component-instance", instanceDomain(i), "--instance-upstream", f.e.ComponentAddrs[instanceDomain(i)], "--peers", instanceDomain(1-i), "--shared-config", "pubsub.localhost")
	waitReady(t, f.hubs[i], true)
}

func (f *fleet) dial(t *testing.T, name string) *xmpptest.Client {
	t.Helper()
	return xmpptest.Dial(t, xmpptest.Options{Addr: f.e.Addr, TLS: xmpptest.TrustPEM(f.cert)}, name, f.users[name])
}

// owner is the instance holding the device's position.
func (f *fleet) owner(t *testing.T, device string) int {
	t.Helper()
	for i := range 2 {
		if out := servetest.Run(t, "", f.bin, "where", device, "--data", f.data[i]); strings.Contains(out, "52.") {
			return i
		}
	}
	t.Fatalf("%s: on no instance", device)
	return -1
}

// nearby asks to (the component's domain or an instance's) for the
// devices within 50 km of Berlin and returns their JIDs and each
// instance's status.
func nearby(t *testing.T, op *xmpptest.Client, to string) ([]string, map[string]string) {
	t.Helper()
	res := op.IQ("<iq type='get' id='ID' to='" + to + "'><nearby xmlns='urn:geohub:shard:0' lat='52.5' lon='13.4' radius='50000'/></iq>")
	if res.Attr("type") != "result" || res.Attr("from") != to {
		t.Fatalf("nearby: %s", res)
	}
	q := res.Child("urn:geohub:shard:0", "nearby")
	if q == nil {
		t.Fatalf("nearby answered %s", res)
	}
	var jids []string
	for _, d := range q.All("device") {
		jids = append(jids, d.Attr("jid"))
	}
	slices.Sort(jids)
	shards := map[string]string{}
	for _, s := range q.All("shard") {
		shards[s.Attr("domain")] = s.Attr("status")
	}
	return jids, shards
}

func TestEjabberdFleetQueriesAndSharedFences(t *testing.T) {
	f := newFleet(t, 8)
	var all []string
	for i, n := range f.devices {
		c := f.dial(t, n)
		publish(t, c, "f0", 52.40+float64(i)/100, 13.30)
		c.Close()
		all = append(all, n+"@localhost")
	}
	slices.Sort(all)
	owners := map[int][]string{}
	for _, n := range f.devices {
		o := f.owner(t, n)
		owners[o] = append(owners[o], n)
	}
	if len(owners[0]) == 0 || len(owners[1]) == 0 {
		t.Fatalf("devices per instance: %v", owners)
	}
	far := owners[1][len(owners[1])-1] // a device of instance 2's

	op := f.dial(t, "op")
	op.Send("<presence/>")
	// The operator follows every alert at the shared domain: ejabberd
	// keeps the subscription on the instance it sends op to.
	if res := op.IQ("<iq type='set' id='ID' to='" + componentDomain + "'><pubsub xmlns='http://jabber.org/protocol/pubsub'>" +
		"<subscribe node='alerts' jid='op@localhost'/></pubsub></iq>"); res.Attr("type") != "result" {
		t.Fatalf("subscribing to alerts: %s", res)
	}
	// Any instance answers for the whole fleet: the one the component's
	// domain sends the operator to, and each at its own domain.
	for _, to := range []string{componentDomain, instanceDomain(0), instanceDomain(1)} {
		jids, shards := nearby(t, op, to)
		if !slices.Equal(jids, all) || shards[instanceDomain(0)] != "ok" || shards[instanceDomain(1)] != "ok" {
			t.Errorf("nearby at %s: %v shards %v, want %v from both", to, jids, shards, all)
		}
	}
	// So does each instance's API: the map's positions and who was in
	// the area, with how each instance took part.
	for i := range 2 {
		jids, shards, header := apiPositions(t, f.hubs[i], f.tokens[i])
		if !slices.Equal(jids, all) || shards[instanceDomain(0)] != "ok" || shards[instanceDomain(1)] != "ok" ||
			!strings.Contains(header, instanceDomain(1-i)+"=ok") {
			t.Errorf("API positions of instance %d: %v shards %v (%s), want %v from both", i+1, jids, shards, header, all)
		}
		var who []struct{ Device string }
		apiGet(t, f.hubs[i], f.tokens[i], "/api/reports/who?lat=52.45&lon=13.30&radius=50000", &who)
		if len(who) != len(all) {
			t.Errorf("API who was in the area, at instance %d: %v, want %v", i+1, who, all)
		}
	}
	// A chat command answers for a device of either instance, at the
	// shared domain (whichever instance ejabberd sends the operator to)
	// and at instance 1's own.
	for _, ask := range []struct{ to, device string }{{componentDomain, owners[0][0]}, {componentDomain, owners[1][0]}, {instanceDomain(0), far}} {
		if body := command(t, op, ask.to, "where "+ask.device); !strings.Contains(body, ask.device+" at geo:52.") {
			t.Errorf("where %s, asked at %s: %q", ask.device, ask.to, body)
		}
	}
	// Instance 1's live stream shows a device of instance 2 moving.
	stream := liveStream(t, f.hubs[0], f.tokens[0])
	walker := f.dial(t, far)
	step := 0
	waitUntil(t, "instance 2's device on instance 1's stream", func() bool {
		for {
			select {
			case data := <-stream:
				if strings.Contains(data, walker.JID.Bare().String()) && strings.Contains(data, "13.7") {
					return true
				}
				continue
			default:
			}
			break
		}
		step++
		publish(t, walker, fmt.Sprintf("w%d", step), 52.70+float64(step)/1e4, 13.70)
		return false
	})
	walker.Close()
	// So does instance 2's device's trail, asked at instance 1: every fix
	// of it, oldest first, from instance 2.
	var trail struct {
		Geometry struct{ Coordinates [][]float64 }
		Shards   map[string]struct{ Status string }
	}
	header := apiGet(t, f.hubs[0], f.tokens[0], "/api/devices/"+far+"/trail", &trail)
	if c := trail.Geometry.Coordinates; len(c) != step+1 || c[0][0] != 13.30 || c[len(c)-1][0] != 13.70 ||
		trail.Shards[instanceDomain(1)].Status != "ok" || !strings.Contains(header, instanceDomain(1)+"=ok") {
		t.Errorf("%s's trail at instance 1: %v (shards %v, %q), want its %d fixes from instance 2", far, c, trail.Shards, header, step+1)
	}

	// A fence added on instance 1 reaches instance 2, and alerts for a
	// device instance 2 owns.
	fence := filepath.Join(t.TempDir(), "depot.geojson")
	os.WriteFile(fence, []byte(`{"type":"Feature","id":"depot","properties":{"name":"Depot","radius":300,"groups":["fleet"],
		"events":["enter"],"notify":["op@localhost"]},"geometry":{"type":"Point","coordinates":[13.60,52.60]}}`), 0o600)
	servetest.Run(t, "", f.bin, "fence", "add", fence, "--data", f.data[0])
	waitUntil(t, "the fence added on instance 1 on instance 2", func() bool {
		return strings.Contains(servetest.Run(t, "", f.bin, "fence", "list", "--data", f.data[1]), "Depot")
	})
	for _, mover := range []string{owners[0][0], owners[1][0]} {
		c := f.dial(t, mover)
		publish(t, c, "f1", 52.60, 13.60)
		c.Close()
		alert := op.WaitFor("the alert about "+mover, func(n *xmpptest.Node) bool {
			a := n.Child("urn:geohub:alert:0", "alert")
			return n.Name() == "message" && a != nil && a.Attr("device") == mover+"@localhost"
		})
		if a := alert.Child("urn:geohub:alert:0", "alert"); alert.Attr("from") != componentDomain || a.Attr("fence") != "depot" {
			t.Errorf("alert %s, want depot for %s from %s", alert, mover, componentDomain)
		}
		// And on the alert node, whichever instance holds op's
		// subscription and whichever owns the device.
		op.WaitFor("the alert item about "+mover, func(n *xmpptest.Node) bool {
			ev := n.Child("http://jabber.org/protocol/pubsub#event", "event")
			return n.Name() == "message" && ev != nil && strings.Contains(ev.String(), mover+"@localhost")
		})
	}

	// Who was in the fence, asked at instance 1: both, each from its own
	// instance's trail (the fence is the same on both).
	var who []struct{ Device string }
	apiGet(t, f.hubs[0], f.tokens[0], "/api/reports/who?fence=depot", &who)
	if len(who) != 2 {
		t.Errorf("who was in the depot, at instance 1: %v, want %s and %s", who, owners[0][0], owners[1][0])
	}

	// A rule added on instance 2 reaches instance 1 under its ID; the
	// fence removed on instance 2 goes from instance 1.
	var rules []struct{ ID, Name string }
	out := servetest.Run(t, "", f.bin, "rule", "add", "--name", "Low battery", "--sensor", "battery", "--below", "15",
		"--groups", "fleet", "--data", f.data[1], "--format", "json")
	if err := json.Unmarshal([]byte(out), &rules); err != nil || len(rules) != 1 {
		t.Fatalf("rule add printed %q: %v", out, err)
	}
	waitUntil(t, "the rule on instance 1", func() bool {
		return strings.Contains(servetest.Run(t, "", f.bin, "rule", "list", "--data", f.data[0]), rules[0].ID)
	})
	servetest.Run(t, "", f.bin, "fence", "remove", "depot", "--data", f.data[1])
	waitUntil(t, "the fence gone from instance 1", func() bool {
		return !strings.Contains(servetest.Run(t, "", f.bin, "fence", "list", "--data", f.data[0]), "Depot")
	})

	// Instance 2 stops: instance 1's answer says its shard is missing.
	// (Asked at instance 1's own domain: with component_number, ejabberd
	// keeps sending instance 2's share of senders to instance 2.)
	if err := f.hubs[1].Stop(); err != nil {
		t.Fatal(err)
	}
	jids, shards := nearby(t, op, instanceDomain(0))
	if shards[instanceDomain(1)] != "missing" || shards[instanceDomain(0)] != "ok" {
		t.Errorf("with instance 2 stopped: shards %v", shards)
	}
	if jids, shards, header := apiPositions(t, f.hubs[0], f.tokens[0]); shards[instanceDomain(1)] != "missing" ||
		!strings.Contains(header, instanceDomain(1)+"=missing") || len(jids) != len(owners[0]) {
		t.Errorf("API positions with instance 2 stopped: %v shards %v (%s), want instance 1's %v", jids, shards, header, owners[0])
	}
	for _, j := range jids {
		if slices.Contains(owners[1], strings.TrimSuffix(j, "@localhost")) {
			t.Errorf("with instance 2 stopped, %s (its device) answered", j)
		}
	}
	if len(jids) != len(owners[0]) {
		t.Errorf("with instance 2 stopped: %v, want instance 1's %v", jids, owners[0])
	}
	// A chat command says so too.
	if body := command(t, op, instanceDomain(0), "where "+far); !strings.Contains(body, "No position of "+far) ||
		!strings.Contains(body, instanceDomain(1)+" (") {
		t.Errorf("where %s with instance 2 stopped: %q, want no position and instance 2 named", far, body)
	}
	// Back: the whole fleet again.
	f.start(t, 1)
	jids, shards = nearby(t, op, componentDomain)
	if !slices.Equal(jids, all) || shards[instanceDomain(1)] != "ok" {
		t.Errorf("instance 2 back: %v shards %v", jids, shards)
	}
}

// command sends a chat command to to and returns the answer's body.
func command(t *testing.T, op *xmpptest.Client, to, line string) string {
	t.Helper()
	id := op.ID()
	op.Send("<message type='chat' id='%s' to='%s'><body>%s</body></message>", id, to, line)
	answer := op.WaitFor("the answer to "+line, func(n *xmpptest.Node) bool {
		return n.Name() == "message" && n.Attr("id") == id && n.Attr("from") == to
	})
	return answer.Child("", "body").Text
}

// waitUntil polls cond for 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 20s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
