package xmpptest

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// Raw is a byte-level client for tests of malformed and hostile input.
type Raw struct {
	t    testing.TB
	conn net.Conn
	got  strings.Builder // everything read so far
	seen int             // how much of got ReadUntil has consumed
}

// DialRaw connects to addr with plain TCP.
func DialRaw(t testing.TB, addr string) *Raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	r := &Raw{t: t, conn: c}
	t.Cleanup(func() { c.Close() })
	return r
}

// Send writes s.
func (r *Raw) Send(s string) {
	r.t.Helper()
	r.conn.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := io.WriteString(r.conn, s); err != nil {
		r.t.Fatalf("raw send: %v", err)
	}
}

// ReadUntil reads until what arrived since the last call contains want, and
// returns it. It fails the test when the connection ends or time runs out.
func (r *Raw) ReadUntil(want string) string {
	r.t.Helper()
	out, err := r.readUntil(want)
	if err != nil {
		r.t.Fatalf("waiting for %q: %v; got %q", want, err, out)
	}
	return out
}

func (r *Raw) readUntil(want string) (string, error) {
	deadline := time.Now().Add(Timeout)
	buf := make([]byte, 4096)
	for {
		if i := strings.Index(r.got.String()[r.seen:], want); i >= 0 {
			out := r.got.String()[r.seen : r.seen+i+len(want)]
			r.seen += i + len(want)
			return out, nil
		}
		r.conn.SetReadDeadline(deadline)
		n, err := r.conn.Read(buf)
		r.got.Write(buf[:n])
		if err != nil {
			return r.got.String()[r.seen:], err
		}
	}
}

// ReadToEOF reads until the hub closes the connection and returns what came.
func (r *Raw) ReadToEOF() string {
	r.t.Helper()
	out, err := r.readUntil("\x00never\x00")
	if !errors.Is(err, io.EOF) && !isReset(err) {
		r.t.Fatalf("expected the hub to close the connection, got %v; read %q", err, out)
	}
	return out
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout() && !errors.Is(err, os.ErrDeadlineExceeded)
}

// Header is a client stream header to domain.
func Header(domain string) string {
	return "<?xml version='1.0'?><stream:stream to='" + domain +
		"' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
}

// Open sends a stream header and reads up to the end of the features.
func (r *Raw) Open(domain string) string {
	r.t.Helper()
	r.Send(Header(domain))
	return r.ReadUntil("</stream:features>")
}

// StartTLS opens a stream, negotiates STARTTLS and opens the stream again
// over TLS, returning the new features.
func (r *Raw) StartTLS(domain string, cfg *tls.Config) string {
	r.t.Helper()
	r.Open(domain)
	r.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	r.ReadUntil("<proceed")
	r.ReadUntil(">")
	r.UpgradeTLS(cfg)
	return r.Open(domain)
}

// UpgradeTLS starts TLS on the connection after <proceed/>.
func (r *Raw) UpgradeTLS(cfg *tls.Config) {
	r.t.Helper()
	tc := tls.Client(r.conn, cfg)
	tc.SetDeadline(time.Now().Add(Timeout))
	if err := tc.Handshake(); err != nil {
		r.t.Fatalf("TLS handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	r.conn = tc
	r.got.Reset()
	r.seen = 0
}

// AuthPlain sends a SASL PLAIN request and returns the hub's answer element.
func (r *Raw) AuthPlain(user, password string) string {
	r.t.Helper()
	payload := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	r.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + payload + "</auth>")
	var out string
	for !strings.Contains(out, "</success>") && !strings.Contains(out, "</failure>") {
		out += r.ReadUntil(">")
	}
	return out
}

// Login negotiates STARTTLS, PLAIN and binds resource, leaving the raw
// connection ready for stanzas. It returns the bound JID.
func (r *Raw) Login(domain string, cfg *tls.Config, user, password, resource string) string {
	r.t.Helper()
	r.StartTLS(domain, cfg)
	if out := r.AuthPlain(user, password); !strings.Contains(out, "<success") {
		r.t.Fatalf("login as %s: %q", user, out)
	}
	r.Open(domain)
	r.Send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource + "</resource></bind></iq>")
	out := r.ReadUntil("</iq>")
	i, j := strings.Index(out, "<jid>"), strings.Index(out, "</jid>")
	if i < 0 || j < i {
		r.t.Fatalf("bind: %q", out)
	}
	return out[i+5 : j]
}

// Conn is the connection, for tests that read and write it directly.
func (r *Raw) Conn() net.Conn { return r.conn }
