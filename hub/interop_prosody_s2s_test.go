package hub_test

// Federation with Prosody 0.12 and ejabberd 23.01: slixmpp users at
// prosody.test or ejabberd.test and GeoHub at geohub.test, each a real
// server with a certificate from the test's CA, authenticating with SASL
// EXTERNAL. A device and a user there chat both ways; the user, made a
// remote operator of the fleet, gets a geofence alert, runs where,
// subscribes to the car's presence and follows its PEP geoloc node;
// another user there, without an account at GeoHub, is refused. The
// user's caps announce geoloc+notify, as stock clients' do: GeoHub asks
// them over the federation and sends the car's fixes without a pubsub
// subscription (XEP-0163), and once each with one.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/testca"
	"github.com/geohub/geohub/internal/xmpptest"
)

// slixProcess is a slixmpp script running beside the test, whose JSON
// lines arrive as they are printed.
type slixProcess struct {
	lines  chan slixLine
	done   chan error
	stderr strings.Builder
}

func startSlixmpp(t *testing.T, addr, caFile, script string, args ...string) *slixProcess {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	argv := append([]string{filepath.Join("testdata", "slixmpp", script), "--host", host, "--port", port, "--cafile", caFile}, args...)
	cmd := exec.CommandContext(ctx, peers.Python, argv...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	p := &slixProcess{lines: make(chan slixLine, 100), done: make(chan error, 1)}
	cmd.Stderr = &p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l slixLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				p.lines <- l
			}
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	return p
}

// next returns the script's next line of event, failing when the script
// ends first.
func (p *slixProcess) next(t *testing.T, event string) slixLine {
	t.Helper()
	for l := range p.lines {
		if l.str("event") == event {
			return l
		}
	}
	t.Fatalf("the script ended without printing %s: %v\nstderr:\n%s", event, <-p.done, p.stderr.String())
	return nil
}

// federatedHub starts GeoHub at geohub.test with a certificate from ca,
// federating with the servers of hosts (domain to s2s address), with a
// STARTTLS and a direct TLS listener.
func federatedHub(t *testing.T, ca *testca.CA, hosts map[string]string) *hubtest.Hub {
	t.Helper()
	cert, _, _, err := ca.Issue("geohub.test")
	if err != nil {
		t.Fatal(err)
	}
	return hubtest.Start(t, func(c *hub.Config) {
		c.Domain = "geohub.test"
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		c.Federation = &hub.FederationConfig{Listen: "127.0.0.1:0", ListenTLS: "127.0.0.1:0", Roots: ca.Pool(), Hosts: hosts}
	})
}

func TestProsodyFederation(t *testing.T) {
	peers.Require(t, "slixmpp")
	ca := newTestCA(t)
	pr := peers.StartFederatedProsody(t, ca, "prosody.test", map[string]string{"operator": "op-secret", "stranger": "stranger-secret"})
	h := federatedHub(t, ca, map[string]string{"prosody.test": pr.S2SAddr})
	federateWithUsers(t, h, ca, "prosody.test", pr.Addr, pr.CAFile)
}

// ejabberd does not answer over GeoHub's stream (no XEP-0288): it opens
// its own to GeoHub, found through the _xmpp-server._tcp SRV record its
// loopback name server gives, with STARTTLS, and both authenticate with
// SASL EXTERNAL.
func TestEjabberdFederation(t *testing.T) { ejabberdFederation(t, false) }

// ejabberd finds only GeoHub's direct TLS listener (XEP-0368,
// _xmpps-server._tcp) and opens its stream there, TLS from the first
// byte with ALPN xmpp-server.
func TestEjabberdFederationDirectTLS(t *testing.T) { ejabberdFederation(t, true) }

func ejabberdFederation(t *testing.T, directTLS bool) {
	peers.Require(t, "slixmpp")
	ca := newTestCA(t)
	ej := peers.StartFederatedEjabberd(t, ca, "ejabberd.test", map[string]string{"operator": "op-secret", "stranger": "stranger-secret"})
	h := federatedHub(t, ca, map[string]string{"ejabberd.test": ej.S2SAddr})
	addr := h.FederationAddr()
	if directTLS {
		addr = h.FederationTLSAddr()
	}
	if err := ej.Route("geohub.test", addr, directTLS); err != nil {
		t.Fatal(err)
	}
	federateWithUsers(t, h, ca, "ejabberd.test", ej.Addr, ej.CAFile)
}

// federateWithUsers runs federation.py at domain: operator@domain is made
// a remote operator of the fleet, stranger@domain has no account here.
func federateWithUsers(t *testing.T, h *hubtest.Hub, ca *testca.CA, domain, c2s, caFile string) {
	t.Helper()
	op := "operator@" + domain
	pw := h.Account(t, "car-17", devices.RoleDevice, "fleet")
	if _, err := h.Accounts.Add(devices.NewAccount{Name: op, Role: devices.RoleOperator, Groups: []string{"fleet"}}); err != nil {
		t.Fatal(err)
	}
	addFence(t, h, `{"type":"Feature","properties":{"name":"Depot","radius":200,"groups":["fleet"],
		"events":["enter"],"notify":["`+op+`"]},"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`)
	car := xmpptest.Dial(t, xmpptest.Options{Addr: h.Addr, TLS: &tls.Config{RootCAs: ca.Pool(), ServerName: "geohub.test"}}, "car-17", pw)
	car.Send("<presence/>")

	script := startSlixmpp(t, c2s, caFile, "federation.py", "--user", "operator", "op-secret",
		"--user", "stranger", "stranger-secret",
		"--domain", domain, "--peer", "car-17@geohub.test", "--hub", "geohub@geohub.test")
	script.next(t, "ready")

	// A chat each way.
	car.Send("<message to='%s' type='chat' id='f1'><body>hello from geohub.test</body></message>", op)
	if m := script.next(t, "message"); m.str("from") != car.JID.String() || m.str("body") != "hello from geohub.test" {
		t.Errorf("the user at %s got %v", domain, m)
	}
	reply := car.WaitFor("the answer from "+domain, func(n *xmpptest.Node) bool { return n.Name() == "message" })
	if !strings.HasPrefix(reply.Attr("from"), op+"/") || reply.Find("body").Text != "hello from "+domain {
		t.Errorf("car-17 got %s", reply)
	}

	// The remote operator gets the fleet's alert and asks where the car is.
	ok(t, "outside", publishGeoloc(car, "f1", 52.50, 13.40))
	ok(t, "inside", publishGeoloc(car, "f2", 52.5101, 13.4001))
	if a := script.next(t, "alert"); a.str("from") != "geohub@geohub.test/hub" || a.str("kind") != "enter" ||
		!strings.HasPrefix(a.str("body"), "car-17 entered Depot") {
		t.Errorf("alert at %s: %v", domain, a)
	}
	if a := script.next(t, "answer"); a.str("who") != "operator" || a.str("type") != "chat" ||
		!strings.Contains(a.str("body"), "car-17 at geo:52.5101,13.4001") {
		t.Errorf("where car-17 from %s: %v", domain, a)
	}
	// A user there without an account at GeoHub has no rights here.
	if a := script.next(t, "answer"); a.str("who") != "stranger" || a.str("type") != "error" || a.str("condition") != "forbidden" ||
		a.str("from") != "geohub@geohub.test" {
		t.Errorf("a chat command from a stranger at %s: %v", domain, a)
	}
	// The remote operator subscribes to the car's presence: approved for
	// the account at once, with the car's presence; the car asks back.
	if c := script.next(t, "caps_answered"); c.str("to") != "car-17@geohub.test" {
		t.Errorf("caps question at %s: %v", domain, c)
	}
	if p := script.next(t, "presence"); p.str("from") != car.JID.String() || p.str("subscription") != "both" {
		t.Errorf("presence subscription at %s: %v", domain, p)
	}
	// Its caps say geoloc+notify: it gets the last fix, then the next,
	// without subscribing to the node (XEP-0163 auto-subscription).
	if l := script.next(t, "last"); l.str("id") != "f2" {
		t.Errorf("last item at %s: %v", domain, l)
	}
	ok(t, "next", publishGeoloc(car, "f3", 52.53, 13.41))
	if g := script.next(t, "geoloc"); g.str("from") != "car-17@geohub.test" || g.str("lat") != "52.53" ||
		!strings.HasPrefix(g.str("to"), op+"/") {
		t.Errorf("geoloc notification at %s: %v", domain, g)
	}
	// Subscribed to the node as well, it gets each item once.
	script.next(t, "subscribed")
	ok(t, "f4", publishGeoloc(car, "f4", 52.54, 13.41))
	ok(t, "f5", publishGeoloc(car, "f5", 52.55, 13.41))
	if s := script.next(t, "sequence"); s.str("ids") != "f4 f5" {
		t.Errorf("notifications at %s once subscribed: %v", domain, s)
	}
	if err := <-script.done; err != nil {
		t.Errorf("script: %v\n%s", err, script.stderr.String())
	}
}
