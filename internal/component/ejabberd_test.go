package component_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/servetest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// instance is one geohub serve attached to ejabberd as the component.
type instance struct {
	data string
	hub  *servetest.Hub
}

// startInstances provisions the same accounts in n data folders and
// starts a geohub serve on each as geo.localhost at upstream.
func startInstances(t *testing.T, bin, upstream string, n int, accounts []string) []*instance {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte(secret), 0o600)
	var out []*instance
	for i := range n {
		in := &instance{data: filepath.Join(t.TempDir(), fmt.Sprintf("data%d", i+1))}
		for _, a := range accounts {
			servetest.AddAccount(t, bin, in.data, a, "--group", "fleet")
		}
		in.hub = servetest.Start(t, bin, in.data, "--c2s", "", "--c2s-tls", "",
			"--component", componentDomain, "--upstream", upstream, "--component-secret-file", secretFile)
		waitReady(t, in.hub, true)
		out = append(out, in)
	}
	return out
}

// publish sends one fix of c's to the component and waits for the answer.
func publish(t *testing.T, c *xmpptest.Client, id string, lat, lon float64) {
	t.Helper()
	res := c.IQ(fmt.Sprintf("<iq type='set' id='ID' to='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"+
		"<publish node='http://jabber.org/protocol/geoloc'><item id='%s'><geoloc xmlns='http://jabber.org/protocol/geoloc'>"+
		"<lat>%.6f</lat><lon>%.6f</lon></geoloc></item></publish></pubsub></iq>", componentDomain, id, lat, lon))
	if res.Attr("type") != "result" || res.Attr("from") != componentDomain {
		t.Fatalf("publish %s: %s", id, res)
	}
}

// ejabberd balances geo.localhost over two GeoHub instances by the
// sender's bare JID (domain_balancing, bare_source): every fix of a device
// lands on one instance, always the same.
func TestEjabberdBareSourceShards(t *testing.T) {
	var names []string
	users := map[string]string{}
	for i := range 12 {
		n := fmt.Sprintf("van-%d", i+1)
		names = append(names, n)
		users[n] = "pw-" + n
	}
	e := peers.StartEjabberd(t, peers.EjabberdOptions{Users: users,
		Components: map[string]string{componentDomain: secret}, Balancing: map[string]string{componentDomain: "bare_source"}, BalancedOver: 2})
	bin := servetest.Build(t, "../..")
	shards := startInstances(t, bin, e.ComponentAddrs[componentDomain], 2, names)
	cert, err := os.ReadFile(e.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	const fixes = 3
	for i, n := range names {
		c := xmpptest.Dial(t, xmpptest.Options{Addr: e.Addr, TLS: xmpptest.TrustPEM(cert)}, n, users[n])
		for k := range fixes {
			publish(t, c, fmt.Sprintf("f%d", k), 52+float64(i)/100, 13+float64(k)/100)
		}
		c.Close()
	}
	owners := map[int]int{}
	for i, n := range names {
		var on []int
		for s, in := range shards {
			where := servetest.Run(t, "", bin, "where", n, "--data", in.data)
			if strings.Contains(where, fmt.Sprintf("%.6f", 52+float64(i)/100)) {
				// The latest fix: every fix of the device went there.
				if !strings.Contains(where, fmt.Sprintf("%.6f", 13+float64(fixes-1)/100)) {
					t.Errorf("%s on instance %d: %q, want its last fix", n, s+1, where)
				}
				on = append(on, s)
			}
		}
		if len(on) != 1 {
			t.Errorf("%s's fixes are on instances %v, want exactly one", n, on)
			continue
		}
		owners[on[0]]++
	}
	t.Logf("devices per instance: %v", owners)
	if len(owners) != 2 {
		t.Errorf("devices per instance %v: one instance got none", owners)
	}
}
