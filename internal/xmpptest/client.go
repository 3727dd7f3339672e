package xmpptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
)

// Timeout bounds every wait in these helpers; a wait that runs out fails the
// test instead of hanging it.
var Timeout = 10 * time.Second

// Options say how a Client connects.
type Options struct {
	Addr      string      // host:port of the hub
	TLS       *tls.Config // trust for the hub's certificate
	DirectTLS bool        // TLS from the first byte (XEP-0368) instead of STARTTLS
	NoTLS     bool        // skip STARTTLS (the hub must allow plain)
	Mechanism sasl.Mechanism
	Resource  string
}

// Client is a logged-in XMPP client whose incoming stanzas arrive, decoded,
// on a channel.
type Client struct {
	t       testing.TB
	Session *xmpp.Session
	JID     jid.JID
	conn    net.Conn
	in      chan *Node
	pending []*Node // received, not yet taken by Next, WaitFor or Drain
	done    chan struct{}
	err     error
	wmu     sync.Mutex
	ids     atomic.Uint64
	paused  atomic.Bool   // StopReading
	closing chan struct{} // closed by Close
	once    sync.Once
}

// Dial logs in as user@domain with password or fails the test.
func Dial(t testing.TB, o Options, user, password string) *Client {
	t.Helper()
	c, err := DialErr(t, o, user, password)
	if err != nil {
		t.Fatalf("login as %s: %v", user, err)
	}
	return c
}

// DialErr logs in and returns the error instead of failing the test.
func DialErr(t testing.TB, o Options, user, password string) (*Client, error) {
	t.Helper()
	domain := "localhost"
	if o.TLS != nil && o.TLS.ServerName != "" {
		domain = o.TLS.ServerName
	}
	origin, err := jid.New(user, domain, o.Resource)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var conn net.Conn
	if o.DirectTLS {
		cfg := o.TLS.Clone()
		cfg.NextProtos = []string{"xmpp-client"}
		conn, err = (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", o.Addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", o.Addr)
	}
	if err != nil {
		return nil, err
	}
	mech := o.Mechanism
	if mech.Name == "" {
		mech = sasl.ScramSha256
	}
	var features []xmpp.StreamFeature
	if !o.NoTLS && !o.DirectTLS {
		features = append(features, xmpp.StartTLS(o.TLS))
	}
	auth := xmpp.SASL("", password, mech)
	if o.NoTLS {
		auth.Necessary = 0 // mellium clients refuse SASL without TLS otherwise
	}
	features = append(features, auth, xmpp.BindResource())
	state := xmpp.SessionState(0)
	if o.DirectTLS {
		state = xmpp.Secure
	}
	sess, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, state,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: features}
		}))
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &Client{t: t, Session: sess, JID: sess.LocalAddr(), conn: sess.Conn(), in: make(chan *Node, 1024), done: make(chan struct{}), closing: make(chan struct{})}
	go c.read()
	t.Cleanup(c.Close)
	return c, nil
}

func (c *Client) read() {
	defer close(c.done)
	defer close(c.in)
	d := xml.NewTokenDecoder(c.Session.TokenReader())
	for {
		if c.paused.Load() {
			<-c.closing
			return
		}
		tok, err := d.Token()
		if err != nil {
			c.err = err
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		n := new(Node)
		if err := d.DecodeElement(n, &start); err != nil {
			c.err = err
			return
		}
		c.in <- n
	}
}

// StopReading makes the client stop reading from the hub after the stanza
// it is reading now, like a client too slow to keep up, until Close.
func (c *Client) StopReading() { c.paused.Store(true) }

// Send writes raw XML to the stream, formatted like fmt.Sprintf.
func (c *Client) Send(format string, args ...any) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := io.WriteString(c.conn, fmt.Sprintf(format, args...)); err != nil {
		c.t.Fatalf("%s: send: %v", c.JID, err)
	}
}

// ID returns a fresh stanza id.
func (c *Client) ID() string { return fmt.Sprintf("t%d", c.ids.Add(1)) }

// Next returns the next stanza, failing the test if none comes in time.
func (c *Client) Next() *Node {
	c.t.Helper()
	if len(c.pending) > 0 {
		n := c.pending[0]
		c.pending = c.pending[1:]
		return n
	}
	select {
	case n, ok := <-c.in:
		if !ok {
			c.t.Fatalf("%s: stream ended: %v", c.JID, c.err)
		}
		return n
	case <-time.After(Timeout):
		c.t.Fatalf("%s: nothing received in %v", c.JID, Timeout)
	}
	return nil
}

// WaitFor returns the first stanza for which match is true. Stanzas that do
// not match stay queued for later calls.
func (c *Client) WaitFor(what string, match func(*Node) bool) *Node {
	c.t.Helper()
	for i, n := range c.pending {
		if match(n) {
			c.pending = append(c.pending[:i:i], c.pending[i+1:]...)
			return n
		}
	}
	deadline := time.After(Timeout)
	for {
		select {
		case n, ok := <-c.in:
			if !ok {
				c.t.Fatalf("%s: stream ended waiting for %s: %v (got %s)", c.JID, what, c.err, c.pendingString())
			}
			if match(n) {
				return n
			}
			c.pending = append(c.pending, n)
		case <-deadline:
			c.t.Fatalf("%s: no %s in %v; got %s", c.JID, what, Timeout, c.pendingString())
		}
	}
}

func (c *Client) pendingString() string {
	var b strings.Builder
	for _, n := range c.pending {
		b.WriteString(n.String())
		b.WriteByte(' ')
	}
	return b.String()
}

// IQ sends raw, an IQ whose id attribute is the placeholder ID, with a fresh
// id, and returns the response.
func (c *Client) IQ(raw string) *Node {
	c.t.Helper()
	id := c.ID()
	c.Send("%s", strings.Replace(raw, "ID", id, 1))
	return c.WaitFor("response to "+id, func(n *Node) bool {
		return n.Name() == "iq" && n.Attr("id") == id && (n.Attr("type") == "result" || n.Attr("type") == "error")
	})
}

// Sync pings the hub and waits for the answer, leaving what arrived before
// it queued for Next and WaitFor: afterwards, everything the hub had queued
// for this client when it read the ping has arrived.
func (c *Client) Sync() {
	c.t.Helper()
	id := c.ID()
	c.Send("<iq type='get' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>", id)
	c.WaitFor("ping answer", func(n *Node) bool { return n.Name() == "iq" && n.Attr("id") == id })
}

// Drain pings the hub and returns everything received and not yet taken
// before the answer: all the hub had queued for this client when it read the
// ping.
func (c *Client) Drain() []*Node {
	c.t.Helper()
	c.Sync()
	got := c.pending
	c.pending = nil
	return got
}

// Ended waits for the stream to end and returns why: a stream.Error when the
// hub sent one.
func (c *Client) Ended() error {
	c.t.Helper()
	timeout := time.After(Timeout)
	for {
		select {
		case _, ok := <-c.in:
			if !ok {
				return c.err
			}
		case <-timeout:
			c.t.Fatalf("%s: stream did not end in %v", c.JID, Timeout)
			return nil
		}
	}
}

// Close ends the stream and the connection.
func (c *Client) Close() {
	c.once.Do(func() { close(c.closing) })
	c.wmu.Lock()
	io.WriteString(c.conn, "</stream:stream>")
	c.wmu.Unlock()
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
	c.conn.Close()
}

// Conn is the client's connection, for tests that write bytes directly.
func (c *Client) Conn() net.Conn { return c.conn }

// StreamErrorCondition returns the condition of a stream error, or "".
func StreamErrorCondition(err error) string {
	var se stream.Error
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// TrustPEM returns a client TLS configuration for localhost that trusts the
// certificates in pem.
func TrustPEM(pem []byte) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}
