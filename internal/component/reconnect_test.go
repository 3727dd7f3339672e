package component_test

import (
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/servetest"
	"github.com/geohub/geohub/internal/xmpptest"
	"mellium.im/sasl"
)

// pingComponent asks the component, through Prosody, for a ping and its
// identity, as user car.
func pingComponent(t *testing.T, s *setup) {
	t.Helper()
	cert, err := os.ReadFile(s.prosody.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	c := xmpptest.Dial(t, xmpptest.Options{Addr: s.prosody.Addr, TLS: xmpptest.TrustPEM(cert), Mechanism: sasl.ScramSha1}, "car", s.pw["car"])
	defer c.Close()
	if res := c.IQ("<iq type='get' id='ID' to='" + componentDomain + "'><ping xmlns='urn:xmpp:ping'/></iq>"); res.Attr("type") != "result" || res.Attr("from") != componentDomain {
		t.Errorf("ping to the component: %s", res)
	}
	info := c.IQ("<iq type='get' id='ID' to='" + componentDomain + "'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if id := info.Find("query/identity"); id == nil || id.Attr("category") != "pubsub" || id.Attr("type") != "service" {
		t.Errorf("disco#info of the component: %s", info)
	}
}

// Prosody restarts: /readyz reports the link down meanwhile, GeoHub
// connects again by itself, and the component answers through it.
func TestProsodyRestartRelinks(t *testing.T) {
	s := newSetup(t)
	h := s.serve(t)
	pingComponent(t, s)

	// Watch /readyz through the restart, so that the down state is seen
	// however short it is.
	var sawDown atomic.Value
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if code, body := readyz(t, h); code == http.StatusServiceUnavailable && sawDown.Load() == nil {
				sawDown.Store(body)
			}
		}
	}()
	if err := s.prosody.Restart(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, h, true)
	close(stop)
	<-watched
	down, _ := sawDown.Load().(string)
	if !strings.Contains(down, "component link to "+s.prosody.ComponentAddr+" down") {
		t.Errorf("/readyz while Prosody restarted: %q, want the link reported down", down)
	}
	pingComponent(t, s)
}

// A wrong secret: Prosody refuses the handshake, and /readyz says why.
func TestProsodyWrongSecret(t *testing.T) {
	s := newSetup(t)
	secretFile := t.TempDir() + "/secret"
	os.WriteFile(secretFile, []byte("not-the-secret"), 0o600)
	h := servetest.Start(t, s.bin, s.data, "--c2s", "", "--c2s-tls", "",
		"--component", componentDomain, "--upstream", s.prosody.ComponentAddr, "--component-secret-file", secretFile)
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := readyz(t, h)
		if code == http.StatusOK {
			t.Fatal("/readyz ready with a wrong secret")
		}
		if strings.Contains(body, "refused the handshake") && strings.Contains(body, "not-authorized") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz %d %q, want the refused handshake", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
