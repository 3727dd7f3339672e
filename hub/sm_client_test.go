package hub_test

import (
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/xmpptest"
)

// smClient is a stream management client written for these tests, to
// drive the protocol exactly (the interop tests use slixmpp and xmpp.js):
// it counts the stanzas it reads, answers the hub's <r/> unless told not
// to, and keeps everything it read.
type smClient struct {
	t     testing.TB
	raw   *xmpptest.Raw
	conn  net.Conn
	wmu   sync.Mutex
	mu    sync.Mutex
	h     uint32 // stanzas read since <enabled/> or <resumed/>
	count bool
	mute  bool // do not answer <r/>
	got   []*xmpptest.Node
	acks  []uint32 // h of the hub's <a/>
	asked int      // <r/> the hub sent
	done  chan struct{}
	err   error
}

const nsSMTest = "urn:xmpp:sm:3"

// dialSM logs user in over addr (STARTTLS) up to the features after SASL.
func dialSM(t testing.TB, addr string, cfg *tls.Config, user, pw string) (*xmpptest.Raw, string) {
	t.Helper()
	r := xmpptest.DialRaw(t, addr)
	r.StartTLS("localhost", cfg)
	if out := r.AuthPlain(user, pw); !strings.Contains(out, "<success") {
		t.Fatalf("login as %s: %q", user, out)
	}
	return r, r.Open("localhost")
}

// bindSM logs in, binds resource and starts reading.
func bindSM(t testing.TB, addr string, cfg *tls.Config, user, pw, resource string) *smClient {
	t.Helper()
	r, _ := dialSM(t, addr, cfg, user, pw)
	r.Send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource + "</resource></bind></iq>")
	r.ReadUntil("</iq>")
	return readSM(t, r, 0)
}

// readSM reads the stream from r, whose client has handled h stanzas.
func readSM(t testing.TB, r *xmpptest.Raw, h uint32) *smClient {
	c := &smClient{t: t, raw: r, conn: r.Conn(), h: h, done: make(chan struct{})}
	c.conn.SetReadDeadline(time.Time{}) // the raw client's last read set one
	go c.read()
	return c
}

func (c *smClient) read() {
	defer close(c.done)
	d := xml.NewDecoder(c.conn)
	for {
		tok, err := d.Token()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		n := new(xmpptest.Node)
		if err := d.DecodeElement(n, &start); err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		switch n.XMLName.Local {
		case "message", "presence", "iq":
			if c.count {
				c.h++
			}
		case "enabled", "resumed":
			c.count = true
		case "r":
			c.asked++
			if !c.mute {
				h := c.h
				c.mu.Unlock()
				c.send(fmt.Sprintf("<a xmlns='%s' h='%d'/>", nsSMTest, h))
				c.mu.Lock()
			}
		case "a":
			h, _ := strconv.ParseUint(n.Attr("h"), 10, 32)
			c.acks = append(c.acks, uint32(h))
		}
		c.got = append(c.got, n)
		c.mu.Unlock()
	}
}

func (c *smClient) send(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(xmpptest.Timeout))
	_, err := c.conn.Write([]byte(s))
	return err
}

// waitFor waits for an element that match accepts and returns it.
func (c *smClient) waitFor(what string, match func(*xmpptest.Node) bool) *xmpptest.Node {
	c.t.Helper()
	deadline := time.Now().Add(xmpptest.Timeout)
	for {
		c.mu.Lock()
		for _, n := range c.got {
			if match(n) {
				c.mu.Unlock()
				return n
			}
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			c.t.Fatalf("waiting for %s: the stream ended: %v; got %s", what, err, c.dump())
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s; got %s", what, c.dump())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (c *smClient) dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, n := range c.got {
		b.WriteString(n.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// enable asks for stream management and returns the resumption id.
func (c *smClient) enable(resume bool) *xmpptest.Node {
	c.t.Helper()
	if resume {
		c.send("<enable xmlns='" + nsSMTest + "' resume='true'/>")
	} else {
		c.send("<enable xmlns='" + nsSMTest + "'/>")
	}
	return c.waitFor("enabled", named("enabled", "failed"))
}

// handled is the client's h.
func (c *smClient) handled() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.h
}

// bodies returns the bodies of the messages read, in order.
func (c *smClient) bodies() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.got {
		if n.XMLName.Local == "message" {
			if b := n.Child("", "body"); b != nil {
				out = append(out, b.Text)
			}
		}
	}
	return out
}

// cut drops the link without a word, as a tunnel does.
func (c *smClient) cut() {
	c.conn.Close()
	<-c.done
}

func named(names ...string) func(*xmpptest.Node) bool {
	return func(n *xmpptest.Node) bool {
		for _, name := range names {
			if n.XMLName.Local == name {
				return true
			}
		}
		return false
	}
}

// resumeSM logs in again and resumes previd having handled h stanzas; it
// returns the new client and the hub's answer (<resumed/> or <failed/>).
func resumeSM(t testing.TB, addr string, cfg *tls.Config, user, pw, previd string, h uint32) (*smClient, *xmpptest.Node) {
	t.Helper()
	r, features := dialSM(t, addr, cfg, user, pw)
	if !strings.Contains(features, `<sm xmlns="urn:xmpp:sm:3"`) {
		t.Fatalf("no stream management in the features after authentication: %q", features)
	}
	r.Send(fmt.Sprintf("<resume xmlns='%s' previd='%s' h='%d'/>", nsSMTest, previd, h))
	c := readSM(t, r, h)
	ans := c.waitFor("resumed or failed", named("resumed", "failed"))
	return c, ans
}
