package peers

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/testca"
)

// FederatedProsody is a Prosody serving its own domain that federates:
// clients on one loopback port, other servers on another, a certificate
// for its domain from the test's CA, which it also trusts for its peers.
// Certificates are its only way to authenticate a server (SASL EXTERNAL,
// XEP-0178; no dialback), and it answers over the streams others open
// (XEP-0288), since it cannot look the test's domains up in DNS.
type FederatedProsody struct {
	*Prosody
	Domain  string
	S2SAddr string // server-to-server listener, 127.0.0.1:port
	CAFile  string // the test CA, for clients to trust
}

// StartFederatedProsody runs a Prosody for domain with users (name to
// password) until the test ends.
func StartFederatedProsody(t testing.TB, ca *testca.CA, domain string, users map[string]string) *FederatedProsody {
	t.Helper()
	Require(t, "prosody")
	dir, err := os.MkdirTemp("", "geohub-prosody-s2s-")
	if err != nil {
		t.Fatal(err)
	}
	p := &FederatedProsody{Prosody: &Prosody{Dir: dir, Config: filepath.Join(dir, "prosody.cfg.lua")}, Domain: domain}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("prosody output:\n%s\nprosody log:\n%s", p.Output(), p.Log())
		}
		os.RemoveAll(dir)
	})
	if err := p.start(ca, users); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *FederatedProsody) start(ca *testca.CA, users map[string]string) error {
	crt, key, caFile, err := ca.WriteFiles(p.Dir, p.Domain, p.Domain)
	if err != nil {
		return err
	}
	p.CertFile, p.CAFile = crt, caFile
	if err := os.Mkdir(filepath.Join(p.Dir, "data"), 0o750); err != nil {
		return err
	}
	c2s, err := freePort()
	if err != nil {
		return err
	}
	s2s, err := freePort()
	if err != nil {
		return err
	}
	p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(c2s))
	p.S2SAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s2s))
	if err := os.WriteFile(p.Config, []byte(p.config(c2s, s2s, crt, key, caFile)), 0o640); err != nil {
		return err
	}
	cred, err := serverCredential(prosodyUser)
	if err != nil {
		return err
	}
	if cred != nil {
		if err := chownTree(p.Dir, prosodyUser); err != nil {
			return err
		}
	}
	if err := p.registerOffline(p.Domain, users); err != nil {
		return err
	}
	return p.launch(cred, c2s)
}

func (p *FederatedProsody) config(c2s, s2s int, crt, key, caFile string) string {
	q := strconv.Quote
	level := "info"
	if os.Getenv("GEOHUB_TEST_LOG") != "" {
		level = "debug"
	}
	return strings.TrimLeft(fmt.Sprintf(`
-- A private, federating Prosody for one of GeoHub's tests, written by internal/peers.
data_path = %[1]s
pidfile = %[2]s
plugin_paths = { }
log = { { levels = { min = %[3]s }, to = "file", filename = %[4]s } }

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_interfaces = { "127.0.0.1" }
s2s_interfaces = { "127.0.0.1" }
c2s_ports = { %[5]d }
s2s_ports = { %[6]d }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = true
s2s_require_encryption = true
-- Servers authenticate with certificates from the test CA, nothing else.
s2s_secure_auth = true
ssl = { certificate = %[7]s, key = %[8]s, cafile = %[9]s }

authentication = "internal_hashed"
storage = "internal"
allow_registration = false

modules_enabled = { "roster", "saslauth", "tls", "disco", "pep", "ping", "admin_shell", "s2s_bidi" }
modules_disabled = { "offline", "dialback" }
admin_socket = %[10]s

VirtualHost %[11]s
	ssl = { certificate = %[7]s, key = %[8]s, cafile = %[9]s }
`, q(filepath.Join(p.Dir, "data")), q(filepath.Join(p.Dir, "prosody.pid")), q(level),
		q(filepath.Join(p.Dir, "prosody.log")), c2s, s2s, q(crt), q(key), q(caFile),
		q(filepath.Join(p.Dir, "data", "prosody.sock")), q(p.Domain)), "\n")
}
