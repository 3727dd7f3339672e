package mqttbridge_test

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/tlscert"
	"github.com/geohub/geohub/mqttbridge"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The bridge dials brokers itself (to buffer reads and coalesce writes):
// TLS with a CA file, and WebSocket, against Mosquitto's own listeners.
func TestTLSAndWebSocketBrokers(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlscert.Load(dir, []string{"localhost"}, "", ""); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, tlscert.CertFile), filepath.Join(dir, tlscert.KeyFile)
	tlsPort, wsPort := freePort(t), freePort(t)
	broker := peers.StartMosquitto(t,
		fmt.Sprintf("listener %d 127.0.0.1\ncertfile %s\nkeyfile %s", tlsPort, certFile, keyFile),
		fmt.Sprintf("listener %d 127.0.0.1\nprotocol websockets", wsPort))
	h := hubtest.Start(t)
	for i, url := range []string{fmt.Sprintf("ssl://localhost:%d", tlsPort), fmt.Sprintf("ws://127.0.0.1:%d/mqtt", wsPort)} {
		b, _ := startBridge(t, h, broker, func(c *mqttbridge.Config) {
			c.Brokers, c.CAFile, c.ClientID = []string{url}, certFile, fmt.Sprintf("geohub-%d", i)
			c.OutPrefix = ""
		})
		device := fmt.Sprintf("dev%d", i)
		pub(t, broker, "owntracks/"+device+"/phone", fmt.Sprintf(`{"_type":"location","lat":1,"lon":2,"tst":%d}`, time.Now().Unix()))
		waitFor(t, device+"'s fix over "+url, func() bool { _, ok := h.Geo.Latest(device + "@localhost"); return ok })
		waitFor(t, "its acknowledgement", func() bool { return b.Stats().Total.Acked >= 1 })
		b.Close()
	}
}

// A broker that restarts without persistence forgets the bridge's
// session: the bridge subscribes again when it reconnects.
func TestBridgeSubscribesAgainAfterTheBrokerForgotIt(t *testing.T) {
	e := start(t, nil)
	e.broker.Restart(t)
	waitFor(t, "the bridge back", func() bool { s := e.bridge.Stats().Brokers[0]; return s.Connected && s.Connects == 2 })
	pub(t, e.broker, "owntracks/late/phone", fmt.Sprintf(`{"_type":"location","lat":1,"lon":2,"tst":%d}`, time.Now().Unix()))
	waitFor(t, "a fix after the restart", func() bool { _, ok := e.hub.Geo.Latest("late@localhost"); return ok })
}
