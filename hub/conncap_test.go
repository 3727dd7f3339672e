package hub_test

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// TestConnectionCapCoversEveryTransport: with the cap reached by a session
// and a connection still negotiating, a new connection is refused on the
// STARTTLS port (with a policy-violation stream error), on the direct TLS
// port (before the handshake), over WebSocket and over BOSH; once one
// ends, a client gets in again.
func TestConnectionCapCoversEveryTransport(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxConns = 2 })
	pw := h.Account(t, "car", devices.RoleDevice)
	xmpptest.Dial(t, h.Options(), "car", pw)
	waiting := xmpptest.DialRaw(t, h.Addr)
	waiting.Open("localhost")
	waitFor(t, "two connections counted", func() bool { return h.Stats().Conns == 2 })
	if err := h.Ready(); err == nil || !strings.Contains(err.Error(), "cap") {
		t.Errorf("Ready at the cap: %v", err)
	}

	if out := xmpptest.DialRaw(t, h.Addr).ReadToEOF(); !strings.Contains(out, "<policy-violation") || !strings.Contains(out, "connection limit") {
		t.Errorf("TCP over the cap: %q", out)
	}
	if c, err := tls.Dial("tcp", h.TLSAddr, h.ClientTLS); err == nil {
		c.Close()
		t.Errorf("direct TLS over the cap: the handshake succeeded")
	}
	url, hc := wsServe(t, h, false)
	w := wsDial(t, url, hc)
	var got []string
	for {
		b, err := w.read()
		if err != nil {
			break
		}
		got = append(got, string(b))
	}
	if !strings.Contains(strings.Join(got, ""), "policy-violation") {
		t.Errorf("WebSocket over the cap: %q", got)
	}
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	if r := e.postRaw(fmt.Sprintf(boshCreate, 1000, 10)); !strings.Contains(r.raw, "policy-violation") {
		t.Errorf("BOSH over the cap: %s (%v)", r.raw, r.err)
	}
	if over := h.Stats().OverCap; over != 4 {
		t.Errorf("%d connections counted over the cap, want 4", over)
	}

	waiting.Conn().Close()
	waitFor(t, "the negotiating connection released", func() bool { return h.Stats().Conns == 1 })
	xmpptest.Dial(t, h.Options(), "car", pw)
}
