package s2s

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/testca"
)

// recorder is a Handler that keeps what it is given.
type recorder struct {
	mu       sync.Mutex
	stanzas  []string // "peer: stanza"
	bounces  []string // "domain cond: stanzas"
	accepted int
}

func (r *recorder) Stream(peer string) func(*wire.Element) {
	return func(el *wire.Element) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.stanzas = append(r.stanzas, peer+": "+string(el.Raw))
	}
}

func (r *recorder) Bounce(domain string, stanzas []byte, cond, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bounces = append(r.bounces, domain+" "+cond+": "+string(stanzas))
}

func (r *recorder) has(list func(*recorder) []string, sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range list(r) {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func stanzasOf(r *recorder) []string { return r.stanzas }
func bouncesOf(r *recorder) []string { return r.bounces }

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type node struct {
	svc  *Service
	rec  *recorder
	addr string
}

// start runs a federation service for domain with a certificate for
// certDomain from ca, trusting trust, on a loopback listener.
func start(t *testing.T, domain string, ca *testca.CA, certDomain string, trust *testca.CA, hosts map[string]string, opts ...func(*Config)) *node {
	t.Helper()
	cert, _, _, err := ca.Issue(certDomain)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cfg := Config{Domain: domain, TLS: &tls.Config{Certificates: []tls.Certificate{cert}},
		Roots: trust.Pool(), Hosts: hosts, ConnectTimeout: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := New(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	go svc.Serve(ln)
	t.Cleanup(func() { svc.Close() })
	hosts[domain] = ln.Addr().String()
	return &node{svc: svc, rec: rec, addr: ln.Addr().String()}
}

func newCA(t *testing.T, name string) *testca.CA {
	ca, err := testca.New(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestFederateBothWays(t *testing.T) {
	ca := newCA(t, "test CA")
	hosts := map[string]string{}
	a := start(t, "a.test", ca, "a.test", ca, hosts)
	b := start(t, "b.test", ca, "b.test", ca, hosts)

	a.svc.Send("b.test", []byte("<message from='alice@a.test/x' to='bob@b.test' type='chat'><body>hi</body></message>"))
	eventually(t, "b gets the message from a", func() bool { return b.rec.has(stanzasOf, "a.test: <message from='alice@a.test/x'") })

	// b answers over a's stream (XEP-0288): no stream from b to a.
	b.svc.Send("a.test", []byte("<message from='bob@b.test' to='alice@a.test/x' type='chat'><body>hello</body></message>"))
	eventually(t, "a gets the answer", func() bool { return a.rec.has(stanzasOf, "b.test: <message from='bob@b.test'") })
	b.svc.mu.Lock()
	out := b.svc.routes["a.test"].link.outgoing
	b.svc.mu.Unlock()
	if out {
		t.Error("b opened a stream of its own instead of using a's bidirectional one")
	}
}

func TestSpoofedFromClosesTheStream(t *testing.T) {
	ca := newCA(t, "test CA")
	hosts := map[string]string{}
	a := start(t, "a.test", ca, "a.test", ca, hosts)
	b := start(t, "b.test", ca, "b.test", ca, hosts)
	a.svc.Send("b.test", []byte("<message from='mallory@c.test' to='bob@b.test'><body>spoofed</body></message>"+
		"<message from='alice@a.test' to='bob@b.test'><body>after</body></message>"))
	eventually(t, "a's stream to b closed", func() bool {
		a.svc.mu.Lock()
		defer a.svc.mu.Unlock()
		return len(a.svc.routes) == 0 && len(a.svc.links) == 0
	})
	if b.rec.has(stanzasOf, "spoofed") || b.rec.has(stanzasOf, "after") {
		t.Errorf("b accepted stanzas from a stream that lied: %v", b.rec.stanzas)
	}
}

func TestCertificateOfAnotherDomainRefused(t *testing.T) {
	ca := newCA(t, "test CA")
	hosts := map[string]string{}
	// c.test holds a valid certificate, but for a.test.
	c := start(t, "c.test", ca, "a.test", ca, hosts)
	start(t, "b.test", ca, "b.test", ca, hosts)
	c.svc.Send("b.test", []byte("<message from='x@c.test' to='bob@b.test'><body>hi</body></message>"))
	eventually(t, "the message bounced", func() bool { return c.rec.has(bouncesOf, "b.test remote-server-not-found") })
}

func TestUntrustedCertificateRefused(t *testing.T) {
	ca, rogue := newCA(t, "test CA"), newCA(t, "rogue CA")
	hosts := map[string]string{}
	a := start(t, "a.test", rogue, "a.test", ca, hosts)
	b := start(t, "b.test", ca, "b.test", ca, hosts)
	// b does not trust a's certificate: a cannot authenticate.
	a.svc.Send("b.test", []byte("<message from='alice@a.test' to='bob@b.test'><body>hi</body></message>"))
	eventually(t, "a's message bounced", func() bool { return a.rec.has(bouncesOf, "b.test remote-server-not-found") })
	// The other way round, b refuses a's certificate in the TLS handshake.
	b.svc.Send("a.test", []byte("<message from='bob@b.test' to='alice@a.test'><body>hi</body></message>"))
	eventually(t, "b's message bounced", func() bool { return b.rec.has(bouncesOf, "a.test remote-server-not-found") })
	if len(b.rec.stanzas) > 0 || len(a.rec.stanzas) > 0 {
		t.Errorf("stanzas crossed without authentication: %v %v", a.rec.stanzas, b.rec.stanzas)
	}
}

func TestUnreachableDomainBounces(t *testing.T) {
	ca := newCA(t, "test CA")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	hosts := map[string]string{"gone.test": closed}
	a := start(t, "a.test", ca, "a.test", ca, hosts)
	a.svc.Send("gone.test", []byte("<message from='alice@a.test' to='x@gone.test'/>"))
	eventually(t, "bounce", func() bool { return a.rec.has(bouncesOf, "gone.test remote-server-not-found: <message") })
}

func TestDenyList(t *testing.T) {
	ca := newCA(t, "test CA")
	hosts := map[string]string{}
	a := start(t, "a.test", ca, "a.test", ca, hosts)
	start(t, "b.test", ca, "b.test", ca, hosts, func(c *Config) { c.Deny = []string{"a.test"} })
	a.svc.Send("b.test", []byte("<message from='alice@a.test' to='bob@b.test'><body>hi</body></message>"))
	eventually(t, "refused by b", func() bool { return a.rec.has(bouncesOf, "b.test remote-server-not-found") })
	c := start(t, "c.test", ca, "c.test", ca, hosts, func(c *Config) { c.Allow = []string{"a.test"} })
	c.svc.Send("b.test", []byte("<message from='carol@c.test' to='bob@b.test'><body>again</body></message>"))
	eventually(t, "refused by c's allow list", func() bool { return c.rec.has(bouncesOf, "again") })
}

func withDialback(c *Config) { c.Dialback = true }

// Two servers with self-signed certificates (each from a CA the other does
// not trust) federate through dialback when both allow it.
func TestDialbackSelfSigned(t *testing.T) {
	caA, caB, trusted := newCA(t, "a's own"), newCA(t, "b's own"), newCA(t, "public CA")
	hosts := map[string]string{}
	a := start(t, "a.test", caA, "a.test", trusted, hosts, withDialback)
	b := start(t, "b.test", caB, "b.test", trusted, hosts, withDialback)
	a.svc.Send("b.test", []byte("<message from='alice@a.test' to='bob@b.test'><body>via dialback</body></message>"))
	eventually(t, "b gets the message", func() bool { return b.rec.has(stanzasOf, "a.test: <message from='alice@a.test'") })
	b.svc.Send("a.test", []byte("<message from='bob@b.test' to='alice@a.test'><body>back</body></message>"))
	eventually(t, "a gets the answer", func() bool { return a.rec.has(stanzasOf, "b.test: <message from='bob@b.test'") })
}

// A server claiming a.test with a key a.test never issued is refused:
// b.test asks a.test, which says invalid.
func TestDialbackWrongKeyRefused(t *testing.T) {
	ca, rogue := newCA(t, "test CA"), newCA(t, "rogue")
	hosts := map[string]string{}
	start(t, "a.test", ca, "a.test", ca, hosts, withDialback)
	b := start(t, "b.test", ca, "b.test", ca, hosts, withDialback)
	cert, _, _, err := rogue.Issue("a.test")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	st := newStream(raw)
	var f features
	open := func() {
		t.Helper()
		st.write(header("a.test", "b.test", ""))
		if _, _, err := st.header(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.next(&f); err != nil {
			t.Fatal(err)
		}
	}
	st.restart(raw)
	open()
	st.write("<starttls xmlns='" + nsTLS + "'/>")
	if name, err := st.next(nil); err != nil || name.Local != "proceed" {
		t.Fatalf("STARTTLS: %v %v", name, err)
	}
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	st.restart(tc)
	open()
	if f.Dialback == nil || len(f.Mechanisms) > 0 {
		t.Fatalf("features for an untrusted certificate: %+v", f)
	}
	st.write(dbXML("result", "a.test", "b.test", "", "", "0123456789abcdef"))
	var res dbElement
	name, err := st.next(&res)
	if err != nil || name.Local != "result" || res.Type != "invalid" {
		t.Fatalf("dialback with a wrong key: %v %+v %v", name, res, err)
	}
	st.conn.Write([]byte("<message from='x@a.test' to='bob@b.test'><body>forged</body></message>"))
	if _, err := st.next(nil); err == nil {
		t.Error("the stream stayed open")
	}
	if b.rec.has(stanzasOf, "forged") {
		t.Error("b took a stanza from a stream that failed dialback")
	}
}

// A stream nothing crossed for the idle timeout is closed; the next
// stanza opens a new one.
func TestIdleStreamClosedAndReopened(t *testing.T) {
	ca := newCA(t, "test CA")
	hosts := map[string]string{}
	idle := func(c *Config) { c.IdleTimeout = 200 * time.Millisecond }
	a := start(t, "a.test", ca, "a.test", ca, hosts, idle)
	b := start(t, "b.test", ca, "b.test", ca, hosts, idle)
	a.svc.Send("b.test", []byte("<message from='alice@a.test' to='bob@b.test'><body>one</body></message>"))
	eventually(t, "the first message", func() bool { return b.rec.has(stanzasOf, "one") })
	eventually(t, "both ends closed the idle stream", func() bool {
		a.svc.mu.Lock()
		b.svc.mu.Lock()
		defer a.svc.mu.Unlock()
		defer b.svc.mu.Unlock()
		return len(a.svc.links) == 0 && len(b.svc.links) == 0 && len(a.svc.routes) == 0
	})
	a.svc.Send("b.test", []byte("<message from='alice@a.test' to='bob@b.test'><body>two</body></message>"))
	eventually(t, "the second message on a new stream", func() bool { return b.rec.has(stanzasOf, "two") })
}

// A connection the limits refuse ends with policy-violation; what waited
// for it bounces.
func TestAdmitRefuses(t *testing.T) {
	ca := newCA(t, "test CA")
	hosts := map[string]string{}
	a := start(t, "a.test", ca, "a.test", ca, hosts)
	start(t, "b.test", ca, "b.test", ca, hosts, func(c *Config) {
		c.Admit = func(net.Conn) (func(), error) { return nil, errors.New("too many connections from this address") }
	})
	a.svc.Send("b.test", []byte("<message from='alice@a.test' to='bob@b.test'><body>hi</body></message>"))
	eventually(t, "the bounce", func() bool { return a.rec.has(bouncesOf, "b.test remote-server-not-found") })
}
