package peers

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/geohub/geohub/internal/testca"
)

// FederatedEjabberd is an ejabberd serving its own domain that federates:
// clients and other servers on loopback ports, a certificate for its domain
// from the test's CA, which it also trusts for its peers; certificates are
// its only way to authenticate a server (no mod_s2s_dialback). ejabberd
// does not answer over the streams others open (no XEP-0288) and finds
// its peers through DNS only: its Erlang VM resolves host names from its
// own inetrc (ERL_INETRC), which knows localhost alone, and sends DNS
// questions to a name server of the test's on loopback; that one answers
// the SRV records Route sets and nothing else, so that ejabberd opens its
// own streams to the test's servers and nothing leaves the machine.
type FederatedEjabberd struct {
	*Ejabberd
	Domain  string
	S2SAddr string // server-to-server listener, 127.0.0.1:port
	CAFile  string // the test CA, for clients to trust
	dns     *loopbackDNS
}

// Route makes ejabberd find the server of domain at addr (127.0.0.1:port,
// an _xmpp-server._tcp SRV record), or at a direct TLS listener
// (XEP-0368, _xmpps-server._tcp) when directTLS is set.
func (e *FederatedEjabberd) Route(domain, addr string, directTLS bool) error {
	service := "_xmpp-server._tcp"
	if directTLS {
		service = "_xmpps-server._tcp"
	}
	return e.dns.route(service, domain, addr)
}

// StartFederatedEjabberd runs an ejabberd for domain with users (name to
// password) until the test ends.
func StartFederatedEjabberd(t testing.TB, ca *testca.CA, domain string, users map[string]string) *FederatedEjabberd {
	t.Helper()
	Require(t, "ejabberd")
	dir, err := os.MkdirTemp("", "geohub-ejabberd-s2s-")
	if err != nil {
		t.Fatal(err)
	}
	e := &FederatedEjabberd{Ejabberd: &Ejabberd{Dir: dir, Config: filepath.Join(dir, "ejabberd.yml"),
		spool: filepath.Join(dir, "spool"), logs: filepath.Join(dir, "logs")}, Domain: domain}
	t.Cleanup(func() {
		e.stop()
		if e.dns != nil {
			e.dns.Close()
		}
		if t.Failed() {
			t.Logf("ejabberd output:\n%s\nejabberd log:\n%s", e.Output(), e.Log())
		}
		os.RemoveAll(dir)
	})
	if err := e.start(ca, users); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *FederatedEjabberd) start(ca *testca.CA, users map[string]string) error {
	crt, key, caFile, err := ca.WriteFiles(e.Dir, e.Domain, e.Domain)
	if err != nil {
		return err
	}
	e.CertFile, e.CAFile = crt, caFile
	for _, d := range []string{e.spool, e.logs} {
		if err := os.Mkdir(d, 0o750); err != nil {
			return err
		}
	}
	ports := make([]int, 3) // c2s, s2s, Erlang distribution
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	if e.dns, err = startLoopbackDNS(); err != nil {
		return err
	}
	e.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	e.S2SAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	err = e.launch(map[string]string{
		"ejabberd.yml":    e.config(ports[0], ports[1], crt, key, caFile),
		"ejabberdctl.cfg": e.ctlConfig(ports[2]),
		// ejabberdctl points ERL_INETRC at this file in --config-dir:
		// host names from it alone (localhost), DNS questions (SRV) to
		// the loopback name server alone. Without the empty resolv_conf
		// the VM also reads /etc/resolv.conf and asks its name servers
		// first; without the empty hosts_file, /etc/hosts is read.
		"inetrc": fmt.Sprintf("{lookup,[\"file\"]}.\n{resolv_conf,\"\"}.\n{hosts_file,\"\"}.\n"+
			"{host,{127,0,0,1},[\"localhost\"]}.\n{nameserver,{127,0,0,1},%d}.\n", e.dns.Port()),
	})
	if err != nil {
		return err
	}
	return e.register(e.Domain, users)
}

func (e *FederatedEjabberd) config(c2s, s2s int, crt, key, caFile string) string {
	q := strconv.Quote
	level := "info"
	if os.Getenv("GEOHUB_TEST_LOG") != "" {
		level = "debug"
	}
	return fmt.Sprintf(`# A private, federating ejabberd for one of GeoHub's tests, written by internal/peers.
hosts: [%[1]s]
loglevel: %[2]s
log_rotate_count: 0
certfiles: [%[3]s, %[4]s]
ca_file: %[5]s

listen:
  - port: %[6]d
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    access: c2s
    shaper: none
  - port: %[7]d
    ip: "127.0.0.1"
    module: ejabberd_s2s_in
    shaper: none

# Servers: STARTTLS, authenticated by their certificate from ca_file.
s2s_use_starttls: required
s2s_access: s2s
# DNS is the loopback name server: quick to answer.
s2s_dns_timeout: 2 seconds
s2s_dns_retries: 1
outgoing_s2s_families: [ipv4]

auth_method: internal
shaper: {}
shaper_rules:
  max_user_sessions: 10
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  s2s:
    allow: all

modules:
  mod_caps: {}
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_pubsub:
    plugins: ["flat", "pep"]
`, q(e.Domain), level, q(crt), q(key), q(caFile), c2s, s2s)
}
