package hub

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
)

// errNotXML is returned when a connection does not start with XML, such as
// an HTTP request sent to the XMPP port.
var errNotXML = errors.New("expected an XML stream")

// errNegotiationTooLong is returned when a peer sends more during stream
// negotiation than any honest negotiation needs (mellium sets no limit).
var errNegotiationTooLong = errors.New("too much data during stream negotiation")

// negConn is the connection while mellium negotiates. It implements
// io.ByteReader, so encoding/xml reads it a byte at a time instead of
// buffering ahead: when negotiation ends, whatever the client sent after its
// bind request is still in this buffer for the session to read.
type negConn struct {
	net.Conn
	buf      []byte
	r, w     int
	readSize int // how much one read from the connection may take
	read     int // bytes taken from the connection
	limit    int
	started  bool // the first '<' has been read
	space    spaceFilter

	// header holds the hub's stream header until the next write, which
	// is always the stream's features: one write and one TLS record
	// instead of two, three times a login. Only over TCP (coalesce): a
	// WebSocket message must hold one element.
	header   []byte
	coalesce bool
}

func newNegConn(c net.Conn, limit int, coalesce bool) *negConn {
	return &negConn{Conn: c, buf: make([]byte, 2048), readSize: 2048, limit: limit, coalesce: coalesce}
}

func (c *negConn) Write(p []byte) (int, error) {
	if c.coalesce && c.header == nil && isHeader(p) {
		c.header = append([]byte(nil), p...)
		return len(p), nil
	}
	if c.header == nil {
		return c.Conn.Write(p)
	}
	b := append(c.header, p...)
	c.header = nil
	n, err := c.Conn.Write(b)
	return max(0, n-(len(b)-len(p))), err
}

// isHeader reports a stream header alone (<?xml ...?><stream:stream ...>),
// not one with an error or anything else after it.
func isHeader(p []byte) bool {
	return bytes.HasPrefix(p, []byte("<?xml")) && bytes.Count(p, []byte("<")) == 2
}

// flush writes a stream header still held.
func (c *negConn) flush() error {
	if c.header == nil {
		return nil
	}
	b := c.header
	c.header = nil
	_, err := c.Conn.Write(b)
	return err
}

// Close writes a stream header still held, then closes.
func (c *negConn) Close() error {
	c.flush()
	return c.Conn.Close()
}

func (c *negConn) ReadByte() (byte, error) {
	for {
		b, err := c.readByte()
		if err != nil || c.space.keep(b) {
			return b, err
		}
	}
}

func (c *negConn) readByte() (byte, error) {
	if c.r == c.w {
		if c.read >= c.limit {
			return 0, errNegotiationTooLong
		}
		if err := c.flush(); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(c.buf[:c.readSize])
		c.r, c.w = 0, n
		c.read += n
		if n == 0 {
			if err == nil {
				err = errNegotiationTooLong
			}
			return 0, err
		}
	}
	b := c.buf[c.r]
	c.r++
	if !c.started {
		// mellium skips any text before the stream header; a peer that
		// speaks something else would wait out the negotiation timeout.
		switch b {
		case '<':
			c.started = true
		case ' ', '\t', '\r', '\n', 0xEF, 0xBB, 0xBF: // whitespace, UTF-8 BOM
		default:
			return 0, errNotXML
		}
	}
	return b, nil
}

func (c *negConn) Read(p []byte) (int, error) {
	if c.r < c.w {
		n := copy(p, c.buf[c.r:c.w])
		c.r += n
		return n, nil
	}
	if c.read >= c.limit {
		return 0, errNegotiationTooLong
	}
	if err := c.flush(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.read += n
	return n, err
}

// ConnectionState lets mellium see the TLS state through the wrapper.
func (c *negConn) ConnectionState() tls.ConnectionState {
	if tc, ok := c.Conn.(*tls.Conn); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// finishElement reads the rest of the element the client's last start tag
// opened, at most max bytes (the end tag of a <starttls></starttls>), and
// drops buffered whitespace after it.
func (c *negConn) finishElement(max int) error {
	// A byte at a time: the TLS handshake may follow the end tag.
	c.readSize = 1
	defer func() { c.readSize = len(c.buf) }()
	for i := 0; c.space.depth > 1 || c.space.state != inText; i++ {
		if i == max {
			return errors.New("<starttls> not closed")
		}
		if _, err := c.ReadByte(); err != nil {
			return err
		}
	}
	for c.r < c.w && isSpace(c.buf[c.r]) {
		c.r++
	}
	return nil
}

// buffered returns what was read but not yet consumed.
func (c *negConn) buffered() []byte { return c.buf[c.r:c.w] }

// spaceSkipper drops whitespace before the first other byte read from the
// connection: a STARTTLS client's newline after <starttls/> that arrives
// after <proceed/> went out. No TLS record starts with whitespace.
type spaceSkipper struct {
	net.Conn
	started bool
}

func (c *spaceSkipper) Read(p []byte) (int, error) {
	for !c.started {
		n, err := c.Conn.Read(p)
		i := 0
		for i < n && isSpace(p[i]) {
			i++
		}
		if i < n {
			c.started = true
			return copy(p, p[i:n]), err
		}
		if err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

// Lingering on close: how long and how much to read after the last write.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 1 << 20
)

// lingerClose closes a connection after a final write without a TCP reset.
// Closing with unread input makes the kernel send RST, and a reset can
// destroy the stream error just written before the peer reads it. So the
// write side is shut, what the peer still sends is read for a moment, and
// only then is the connection closed.
func lingerClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, io.LimitReader(c, lingerBytes))
	c.Close()
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

const nsStreams = "urn:ietf:params:xml:ns:xmpp-streams"

// streamLang is the default language of the hub's streams (RFC 6120
// §4.7.4): its error texts and answers are English.
const streamLang = "en"

// streamHeader opens a stream towards a client, for errors that happen before
// mellium has sent its own header (RFC 6120 §4.9.1.2).
func streamHeader(domain string) string {
	return `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='` + streamLang + `' from='` +
		string(xmlesc.Text(nil, domain)) + `' id='` + randomResource() + `'>`
}

// streamError returns a stream error and the end of the stream.
func streamError(cond, text string) string {
	out := `<stream:error><` + cond + ` xmlns='` + nsStreams + `'/>`
	if text != "" {
		out += `<text xmlns='` + nsStreams + `'>` + string(xmlesc.Text(nil, text)) + `</text>`
	}
	return out + `</stream:error></stream:stream>`
}
