package s2s

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
)

// Namespaces of stream negotiation.
const (
	nsStreams     = "http://etherx.jabber.org/streams"
	nsServer      = "jabber:server"
	nsTLS         = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL        = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBidiFeature = "urn:xmpp:features:bidi"
	nsBidi        = "urn:xmpp:bidi"
	nsStreamErrs  = "urn:ietf:params:xml:ns:xmpp-streams"
)

// errPeerClosed is the peer ending its stream during negotiation, as one
// that only asked for dialback verifications does.
var errPeerClosed = errors.New("s2s: the peer closed the stream")

// negotiation bytes are bounded: a peer cannot make the hub buffer more.
const maxNegotiation = 64 << 10

// stream is a connection during negotiation. The decoder reads through
// br byte by byte, so nothing past the element it returns is consumed but
// what br buffered, which the stanza phase then reads first.
type stream struct {
	conn   net.Conn
	br     *bufio.Reader
	dec    *xml.Decoder
	read   int
	authed bool
	id     string // the id of the peer's last stream header
	ownID  string // the id of the hub's last stream header (receiving side)
}

func newStream(c net.Conn) *stream {
	st := &stream{conn: c}
	st.br = bufio.NewReaderSize(byteCounter{st}, 4096)
	return st
}

// byteCounter bounds what negotiation may read.
type byteCounter struct{ st *stream }

func (b byteCounter) Read(p []byte) (int, error) {
	if b.st.read >= maxNegotiation {
		return 0, errors.New("s2s: negotiation too long")
	}
	n, err := b.st.conn.Read(p)
	b.st.read += n
	return n, err
}

// restart begins reading a new stream on the same connection (after TLS,
// the connection is the TLS one).
func (st *stream) restart(c net.Conn) {
	if c != st.conn {
		st.conn = c
		st.br.Reset(byteCounter{st})
	}
	st.dec = xml.NewDecoder(st.br)
}

func (st *stream) write(s string) error {
	_, err := st.conn.Write([]byte(s))
	return err
}

// header reads the peer's stream header and returns its from and to.
func (st *stream) header() (from, to string, err error) {
	for {
		tok, err := st.dec.Token()
		if err != nil {
			return "", "", err
		}
		switch t := tok.(type) {
		case xml.ProcInst, xml.CharData, xml.Comment:
			continue
		case xml.StartElement:
			if t.Name.Space != nsStreams || t.Name.Local != "stream" {
				return "", "", streamError{"invalid-namespace", "expected a stream header"}
			}
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "from":
					from = a.Value
				case "to":
					to = a.Value
				case "id":
					st.id = a.Value
				}
			}
			return strings.ToLower(from), strings.ToLower(to), nil
		default:
			return "", "", streamError{"bad-format", "expected a stream header"}
		}
	}
}

// next reads the next top-level element into v (which must accept it);
// it returns the element's name. A stream error from the peer is returned
// as an error.
func (st *stream) next(v any) (xml.Name, error) {
	for {
		tok, err := st.dec.Token()
		if err != nil {
			return xml.Name{}, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			continue
		case xml.EndElement:
			return xml.Name{}, errPeerClosed
		case xml.StartElement:
			if t.Name.Space == nsStreams && t.Name.Local == "error" {
				var e rawError
				st.dec.DecodeElement(&e, &t)
				return t.Name, fmt.Errorf("s2s: the peer sent a stream error: %s", e)
			}
			if v == nil {
				return t.Name, st.dec.Skip()
			}
			return t.Name, st.dec.DecodeElement(v, &t)
		default:
			return xml.Name{}, streamError{"bad-format", "unexpected content"}
		}
	}
}

// rawError is a stream error the peer sent: its condition and text.
type rawError struct {
	Inner []struct {
		XMLName xml.Name
		Text    string `xml:",chardata"`
	} `xml:",any"`
}

func (e rawError) String() string {
	var b strings.Builder
	for _, c := range e.Inner {
		b.WriteString(c.XMLName.Local)
		if c.Text != "" {
			b.WriteString(" (" + c.Text + ")")
		}
		b.WriteString(" ")
	}
	return strings.TrimSpace(b.String())
}

// streamError is a stream error the hub sends (RFC 6120 §4.9).
type streamError struct{ cond, text string }

func (e streamError) Error() string { return "s2s: " + e.cond + ": " + e.text }

func (e streamError) xml() string { return e.head() + "</stream:stream>" }

// head is the stream error element alone.
func (e streamError) head() string {
	b := []byte("<stream:error><" + e.cond + " xmlns='" + nsStreamErrs + "'/>")
	if e.text != "" {
		b = append(b, "<text xmlns='"+nsStreamErrs+"'>"...)
		b = xmlesc.Text(b, e.text)
		b = append(b, "</text>"...)
	}
	return string(b) + "</stream:error>"
}

type features struct {
	StartTLS   *struct{} `xml:"urn:ietf:params:xml:ns:xmpp-tls starttls"`
	Mechanisms []string  `xml:"urn:ietf:params:xml:ns:xmpp-sasl mechanisms>mechanism"`
	Bidi       *struct{} `xml:"urn:xmpp:features:bidi bidi"`
	Dialback   *struct{} `xml:"urn:xmpp:features:dialback dialback"`
}

type saslAuth struct {
	Mechanism string `xml:"mechanism,attr"`
	Text      string `xml:",chardata"`
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func header(from, to, id string) string {
	b := []byte("<?xml version='1.0'?><stream:stream xmlns='" + nsServer + "' xmlns:stream='" + nsStreams + "' xmlns:db='" + nsDialback + "' version='1.0'")
	b = xmlesc.Attr(b, "from", from)
	b = xmlesc.Attr(b, "to", to)
	if id != "" {
		b = xmlesc.Attr(b, "id", id)
	}
	return string(b) + ">"
}

func streamID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// certificate is the hub's certificate for domain, as a client presents it.
func (s *Service) certificate() (*tls.Certificate, error) {
	c := s.cfg.TLS
	if len(c.Certificates) > 0 {
		return &c.Certificates[0], nil
	}
	if c.GetCertificate != nil {
		return c.GetCertificate(&tls.ClientHelloInfo{ServerName: s.cfg.Domain})
	}
	return nil, errors.New("s2s: no certificate")
}

// clientTLS is the configuration of an outgoing stream to domain: the peer
// must prove domain with a certificate the roots trust (RFC 6125 DNS-ID).
func (s *Service) clientTLS(domain string, direct bool) *tls.Config {
	c := &tls.Config{
		ServerName: domain,
		RootCAs:    s.cfg.Roots,
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.certificate()
		},
	}
	if direct {
		c.NextProtos = []string{alpnServer}
	}
	return c
}

// alpnServer is the ALPN protocol of a direct TLS stream between servers
// (XEP-0368 §3).
const alpnServer = "xmpp-server"

// verifyPeer checks the certificate a connecting server presented against
// the domain it claims (XEP-0178 §3): the hub then offers SASL EXTERNAL.
func (s *Service) verifyPeer(cs tls.ConnectionState, domain string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName: domain, Roots: s.cfg.Roots, Intermediates: inter,
		// Servers present their server certificate as clients too; many
		// carry serverAuth only.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err
}

// dialDomain finds, connects and authenticates a stream to domain, trying
// its targets in order.
func (s *Service) dialDomain(ctx context.Context, domain string) (*link, error) {
	ts, err := targets(ctx, s.cfg.Resolver, s.cfg.Hosts, domain)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, t := range ts {
		l, err := s.dial(ctx, domain, t)
		var cv *tls.CertificateVerificationError
		if err != nil && s.cfg.Dialback && errors.As(err, &cv) {
			t.unverified = true
			l, err = s.dial(ctx, domain, t)
		}
		if err == nil {
			return l, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", t.addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// dial opens and negotiates one outgoing stream (RFC 6120 §5, §6;
// XEP-0178; XEP-0288 when the peer offers it).
func (s *Service) dial(ctx context.Context, domain string, t target) (*link, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()
	if dl, has := ctx.Deadline(); has {
		raw.SetDeadline(dl)
	}
	var conn net.Conn = raw
	secure := false
	if t.directTLS {
		cfg := s.clientTLS(domain, true)
		// As after STARTTLS: dialback proves a domain whose certificate
		// did not verify.
		cfg.InsecureSkipVerify = s.cfg.Dialback && t.unverified
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		conn, secure = tc, true
	}
	st := newStream(conn)
	bidi := false
	for step := 0; ; step++ {
		if step > 3 {
			return nil, errors.New("too many stream restarts")
		}
		st.restart(conn)
		if err := st.write(header(s.cfg.Domain, domain, "")); err != nil {
			return nil, err
		}
		if _, _, err := st.header(); err != nil {
			return nil, err
		}
		var f features
		if _, err := st.next(&f); err != nil {
			return nil, err
		}
		switch {
		case !secure:
			if f.StartTLS == nil {
				return nil, errors.New("the peer does not offer STARTTLS")
			}
			if err := st.write("<starttls xmlns='" + nsTLS + "'/>"); err != nil {
				return nil, err
			}
			name, err := st.next(nil)
			if err != nil {
				return nil, err
			}
			if name.Local != "proceed" || st.br.Buffered() > 0 {
				return nil, errors.New("STARTTLS refused")
			}
			cfg := s.clientTLS(domain, false)
			if s.cfg.Dialback && t.unverified {
				// The peer's certificate did not verify: dialback
				// (XEP-0220) proves its domain instead.
				cfg.InsecureSkipVerify = true
			}
			tc := tls.Client(raw, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				return nil, err
			}
			conn, secure = tc, true
		case st.authed:
			// The stream after SASL: ready.
			raw.SetDeadline(time.Time{})
			ok = true
			return s.newLink(conn, st, domain, true, bidi), nil
		case contains(f.Mechanisms, "EXTERNAL"):
			if f.Bidi != nil {
				if err := st.write("<bidi xmlns='" + nsBidi + "'/>"); err != nil {
					return nil, err
				}
				bidi = true
			}
			authzid := base64.StdEncoding.EncodeToString([]byte(s.cfg.Domain))
			if err := st.write("<auth xmlns='" + nsSASL + "' mechanism='EXTERNAL'>" + authzid + "</auth>"); err != nil {
				return nil, err
			}
			var res rawError
			name, err := st.next(&res)
			if err != nil {
				return nil, err
			}
			if name.Local != "success" {
				return nil, fmt.Errorf("SASL EXTERNAL refused: %s", res)
			}
			st.authed = true
		case f.Dialback != nil && s.cfg.Dialback:
			if err := s.dialbackOut(st, domain); err != nil {
				return nil, err
			}
			raw.SetDeadline(time.Time{})
			ok = true
			return s.newLink(conn, st, domain, true, false), nil
		default:
			return nil, errors.New("the peer does not accept our certificate (no SASL EXTERNAL offered)")
		}
	}
}
