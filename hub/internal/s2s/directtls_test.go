package s2s

import (
	"crypto/tls"
	"net"
	"testing"
)

// A server reachable only on its direct TLS listener (XEP-0368) is found
// through its _xmpps-server._tcp record and reached with TLS from the
// first byte, ALPN xmpp-server negotiated; it answers over that stream
// (XEP-0288). A client offering another ALPN protocol is refused.
func TestDirectTLS(t *testing.T) {
	ca := newCA(t, "test CA")
	hosts := map[string]string{}
	b := start(t, "b.test", ca, "b.test", ca, hosts)
	delete(hosts, "b.test") // found through DNS only
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go b.svc.ServeDirectTLS(ln)
	dns := fakeResolver{"_xmpps-server._tcp.b.test": {{Target: "127.0.0.1.", Port: uint16(ln.Addr().(*net.TCPAddr).Port)}}}
	a := start(t, "a.test", ca, "a.test", ca, hosts, func(c *Config) { c.Resolver = dns })

	a.svc.Send("b.test", []byte("<message from='alice@a.test/x' to='bob@b.test' type='chat'><body>hi</body></message>"))
	eventually(t, "b gets the message from a", func() bool { return b.rec.has(stanzasOf, "a.test: <message from='alice@a.test/x'") })
	a.svc.mu.Lock()
	cs := a.svc.routes["b.test"].link.conn.(*tls.Conn).ConnectionState()
	a.svc.mu.Unlock()
	if cs.NegotiatedProtocol != "xmpp-server" {
		t.Errorf("ALPN protocol %q", cs.NegotiatedProtocol)
	}
	b.svc.Send("a.test", []byte("<message from='bob@b.test' to='alice@a.test/x' type='chat'><body>hello</body></message>"))
	eventually(t, "a gets the answer", func() bool { return a.rec.has(stanzasOf, "b.test: <message from='bob@b.test'") })

	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "b.test", NextProtos: []string{"xmpp-client"}})
	if err == nil {
		c.Close()
		t.Error("a TLS client offering xmpp-client only was taken")
	}
}
