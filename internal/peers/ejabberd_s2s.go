package peers

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/testca"
)

// FederatedEjabberd is an ejabberd serving its own domain that federates:
// clients and other servers on loopback ports, a certificate for its domain
// from the test's CA, which it also trusts for its peers; certificates are
// its only way to authenticate a server (no mod_s2s_dialback). ejabberd
// does not answer over the streams others open (no XEP-0288) and finds
// its peers through DNS only: its questions go to a responder on loopback
// that knows no name, so that nothing leaves the machine, and so it
// cannot open streams to the test's servers.
type FederatedEjabberd struct {
	*Ejabberd
	Domain  string
	S2SAddr string // server-to-server listener, 127.0.0.1:port
	CAFile  string // the test CA, for clients to trust
	dns     net.PacketConn
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
	dns, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.dns = dns
	go answerNXDomain(dns)
	ports = append(ports, dns.LocalAddr().(*net.UDPAddr).Port)
	e.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	e.S2SAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	cookie := make([]byte, 16)
	rand.Read(cookie)
	files := map[string]string{
		"ejabberd.yml":    e.config(ports[0], ports[1], crt, key, caFile),
		"ejabberdctl.cfg": e.ctlConfig(ports[2]),
		// DNS questions to the responder.
		"inetrc":         fmt.Sprintf("{lookup,[\"file\"]}.\n{host,{127,0,0,1}, [\"localhost\"]}.\n{nameserver,{127,0,0,1},%d}.\n", ports[3]),
		".erlang.cookie": strings.ToUpper(hex.EncodeToString(cookie)),
	}
	for name, content := range files {
		mode := os.FileMode(0o640)
		if name == ".erlang.cookie" {
			mode = 0o400
		}
		if err := os.WriteFile(filepath.Join(e.Dir, name), []byte(content), mode); err != nil {
			return err
		}
	}
	if e.cred, err = serverCredential(ejabberdUser); err != nil {
		return err
	}
	if e.cred != nil {
		if err := chownTree(e.Dir, ejabberdUser); err != nil {
			return err
		}
	}
	e.epmdBefore = epmdProcesses()
	e.cmd = e.ejabberdctl("foreground")
	e.cmd.SysProcAttr.Setpgid = true
	e.cmd.Env = append(e.cmd.Env, "ERL_INETRC="+filepath.Join(e.Dir, "inetrc"))
	out, err := os.Create(filepath.Join(e.Dir, "ejabberd.out"))
	if err != nil {
		return err
	}
	defer out.Close()
	e.cmd.Stdout, e.cmd.Stderr = out, out
	if err := e.cmd.Start(); err != nil {
		return err
	}
	e.done = make(chan struct{})
	go func() {
		e.cmd.Wait()
		close(e.done)
	}()
	if err := e.waitReady(); err != nil {
		return fmt.Errorf("ejabberd did not start: %v\noutput:\n%s\nlog:\n%s", err, e.Output(), e.Log())
	}
	list := make([]string, 0, len(users))
	for name := range users {
		list = append(list, name)
	}
	sort.Strings(list)
	for _, name := range list {
		if out, err := e.ejabberdctl("register", name, e.Domain, users[name]).CombinedOutput(); err != nil {
			return fmt.Errorf("ejabberdctl register %s: %v\n%s", name, err, out)
		}
	}
	return nil
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
s2s_dns_timeout: 5 seconds
s2s_dns_retries: 1

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

// answerNXDomain answers every DNS question on c with "no such name" (RFC
// 1035 §4.1.1: the question echoed, QR set, RCODE 3, no records) until c
// is closed.
func answerNXDomain(c net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		if n < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
			continue
		}
		end := 12
		for end < n && q[end] != 0 {
			end += int(q[end]) + 1
		}
		end += 5 // the root label, QTYPE, QCLASS
		if end > n {
			continue
		}
		r := append([]byte(nil), q[:end]...)
		r[2] = 0x80 | q[2]&0x79 // QR, opcode and RD as asked
		r[3] = 0x80 | 3         // RA, NXDOMAIN
		binary.BigEndian.PutUint16(r[6:], 0)
		binary.BigEndian.PutUint16(r[8:], 0)
		binary.BigEndian.PutUint16(r[10:], 0)
		c.WriteTo(r, from)
	}
}
