package mqttbridge_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
			c.CleanSession = i == 1 // paho empties its store instead of resuming
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

// pki writes a CA, a server certificate for localhost and a client
// certificate signed by it into dir, and returns their files.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func makePKI(t *testing.T, dir string) pki {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "EC PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "GeoHub test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: dns, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := leaf(2, "localhost", x509.ExtKeyUsageServerAuth, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	cliDER, cliKey := leaf(3, "geohub", x509.ExtKeyUsageClientAuth, nil, nil)
	return pki{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", srvDER), serverKey: writeKey("server.key", srvKey),
		clientCert: write("client.pem", "CERTIFICATE", cliDER), clientKey: writeKey("client.key", cliKey),
	}
}

// A broker that wants a user name and password, and one that wants a
// client certificate: the bridge gives both. Refused credentials leave the
// bridge connecting, with the broker's reason as its last error.
func TestBrokerCredentialsAndClientCertificate(t *testing.T) {
	dir := t.TempDir()
	certs := makePKI(t, dir)
	passwords := filepath.Join(dir, "passwords")
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", passwords, "hub", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	authPort, certPort := freePort(t), freePort(t)
	// The password file holds for every listener; anonymous clients (the
	// test's mosquitto_pub) stay allowed, but a client that gives a user
	// name must give its password.
	broker := peers.StartMosquitto(t, "password_file "+passwords,
		fmt.Sprintf("listener %d 127.0.0.1", authPort),
		fmt.Sprintf("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true",
			certPort, certs.ca, certs.serverCert, certs.serverKey))
	h := hubtest.Start(t)

	// Refused: a wrong password, and no client certificate.
	for i, refused := range []struct {
		broker, user, password, want string
	}{
		{fmt.Sprintf("tcp://127.0.0.1:%d", authPort), "hub", "wrong", "not authorized"},
		{fmt.Sprintf("ssl://localhost:%d", certPort), "", "", "certificate"},
	} {
		cfg := mqttbridge.DefaultConfig()
		cfg.Brokers, cfg.ClientID, cfg.Username, cfg.Password = []string{refused.broker}, fmt.Sprintf("geohub-bad%d", i), refused.user, refused.password
		cfg.CAFile = certs.ca
		log := &logBuffer{}
		bad, err := mqttbridge.New(cfg, mqttbridge.Deps{Hub: h.Server, Accounts: h.Accounts, Geo: h.Geo, Logger: slog.New(slog.NewTextHandler(log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		bad.Start()
		// In TLS 1.3 the broker refuses a missing client certificate after
		// the handshake; a try may see its alert or only the connection
		// closing (when its CONNECT met the reset first), so the test
		// waits for a try that names the reason, then for one more.
		waitFor(t, "a refusal naming "+refused.want, func() bool {
			return strings.Contains(strings.ToLower(log.String()), refused.want)
		})
		first := bad.Stats().Brokers[0].ErrorTime
		waitFor(t, "a second try, refused too", func() bool { return bad.Stats().Brokers[0].ErrorTime.After(first) })
		bad.Close()
		if st := bad.Stats().Brokers[0]; st.Connected || st.Connects != 0 || st.LastError == "" || bad.BridgeState() != "connecting" {
			t.Errorf("refused bridge: %+v, state %s", st, bad.BridgeState())
		}
		// A reason is logged when it changes, not at every try (a TLS
		// refusal that shows as the alert and as the connection closing
		// gives two reasons, two lines).
		var reasons []string
		for _, l := range strings.Split(log.String(), "\n") {
			if _, reason, ok := strings.Cut(l, "cannot connect; trying again"); ok {
				_, reason, _ = strings.Cut(reason, " err=")
				if len(reasons) > 0 && reasons[len(reasons)-1] == reason {
					t.Errorf("the same refusal logged twice in a row:\n%s", log)
				}
				reasons = append(reasons, reason)
			}
		}
		if len(reasons) == 0 || !strings.Contains(strings.ToLower(strings.Join(reasons, " ")), refused.want) {
			t.Errorf("refusals logged: %q, want one naming %q", reasons, refused.want)
		}
	}

	for i, configure := range []func(*mqttbridge.Config){
		func(c *mqttbridge.Config) {
			c.Brokers, c.Username, c.Password = []string{fmt.Sprintf("tcp://127.0.0.1:%d", authPort)}, "hub", "s3cret"
		},
		func(c *mqttbridge.Config) {
			c.Brokers = []string{fmt.Sprintf("ssl://localhost:%d", certPort)}
			c.CAFile, c.CertFile, c.KeyFile = certs.ca, certs.clientCert, certs.clientKey
		},
	} {
		b, _ := startBridge(t, h, broker, func(c *mqttbridge.Config) {
			configure(c)
			c.ClientID = fmt.Sprintf("geohub-%d", i)
		})
		device := fmt.Sprintf("auth%d", i)
		pub(t, broker, "owntracks/"+device+"/phone", fmt.Sprintf(`{"_type":"location","lat":1,"lon":2,"tst":%d}`, time.Now().Unix()))
		waitFor(t, device+"'s fix", func() bool { _, ok := h.Geo.Latest(device + "@localhost"); return ok })
		b.Close()
	}
}
