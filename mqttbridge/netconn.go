package mqttbridge

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// dial opens the connection to a broker like paho's own dialer (tcp, ssl,
// ws, wss; no proxies), wrapped in a coalescingConn.
func dial(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	var c net.Conn
	var err error
	switch uri.Scheme {
	case "tcp", "mqtt":
		c, err = d.Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts":
		c, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
	case "ws", "wss":
		u := *uri
		u.User = nil // gorilla/websocket refuses URLs with user info
		var t *tls.Config
		if u.Scheme == "wss" {
			t = o.TLSConfig
		}
		c, err = mqtt.NewWebsocket(u.String(), t, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	default:
		err = errors.New("unknown scheme " + uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return newCoalescingConn(c), nil
}

// coalescingConn reads through a buffer, and a packetLimiter that keeps
// oversized messages from paho, and coalesces writes: paho reads a
// packet in three or more reads (type, each byte of the length, the rest)
// and writes every packet, down to a 4-byte PUBACK, with a write of its
// own. At thousands of messages a second those system calls cost more
// than the messages. Writes are copied to a buffer that one goroutine
// writes out, all that gathered while the previous write ran in one
// system call. A writer waits while maxPending bytes are unwritten.
type coalescingConn struct {
	net.Conn
	r       *packetLimiter // reads through a buffer
	flushed chan struct{}  // closed when the writer goroutine ends

	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte // waiting to be written
	spare   []byte
	err     error // the first write error, or net.ErrClosed
	closing bool
}

const maxPending = 256 << 10

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{Conn: c, r: newPacketLimiter(bufio.NewReaderSize(c, 64<<10), maxPayload), flushed: make(chan struct{})}
	cc.cond = sync.NewCond(&cc.mu)
	go cc.flush()
	return cc
}

func (c *coalescingConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.buf) >= maxPending && c.err == nil {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	c.cond.Broadcast()
	return len(p), nil
}

// flush writes out what gathers, until the connection closes and all is
// written, or a write fails (then the connection closes, so that paho's
// reader fails too and paho reconnects).
func (c *coalescingConn) flush() {
	defer close(c.flushed)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.buf) == 0 && !c.closing {
			c.cond.Wait()
		}
		if len(c.buf) == 0 {
			return
		}
		out := c.buf
		c.buf = c.spare[:0]
		c.cond.Broadcast() // room for writers
		c.mu.Unlock()
		_, err := c.Conn.Write(out)
		c.mu.Lock()
		c.spare = out[:0]
		if err != nil {
			if c.err == nil {
				c.err = err
			}
			c.buf = nil
			c.cond.Broadcast()
			c.Conn.Close()
			return
		}
	}
}

// Close writes what is pending (paho's DISCONNECT, the last
// acknowledgements), waiting at most a second, then closes.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	first := !c.closing
	c.closing = true
	if c.err == nil {
		c.err = net.ErrClosed
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	if first {
		select {
		case <-c.flushed:
		case <-time.After(time.Second):
		}
	}
	return c.Conn.Close()
}
