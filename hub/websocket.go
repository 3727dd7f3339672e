package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// XMPP over WebSocket (RFC 7395).
//
// A WebSocket connection is served by the same code as a TCP one: wsConn
// makes it look like a net.Conn carrying an RFC 6120 stream, so mellium
// negotiates it and a session reads and routes its stanzas without knowing
// the difference. wsConn translates at element boundaries (see framing.go):
// each message in becomes stream bytes, and what the hub writes is cut
// into complete elements, each sent as one message. The cut is made on
// what was written, not on how it was written: a session coalesces many
// stanzas into one write, and mellium flushes large elements in pieces.
//
// The WebSocket library is github.com/coder/websocket (formerly
// nhooyr.io/websocket): it does the HTTP handshake and whole-message
// writes, takes contexts, and has no dependencies. mellium's own websocket
// package has no handshake and splits a stanza larger than its 4 KiB
// buffer over several messages, which RFC 7395 §3.3.3 forbids.

// WebSocketHandler serves XMPP over WebSocket (RFC 7395, subprotocol xmpp)
// with the same negotiation, limits and sessions as the TCP listeners; the
// dashboard mounts it at /xmpp-websocket.
// Behind TLS (the request arrived over HTTPS) the stream counts as secure
// and SASL PLAIN is offered too. Over plain ws:// only SCRAM is offered, and
// only to loopback clients (a local browser or a TLS-terminating proxy on
// the same host) unless Config.AllowPlain is set; others get a
// policy-violation stream error. STARTTLS is never offered: TLS is the
// HTTP layer's.
func (s *Server) WebSocketHandler() http.Handler {
	return http.HandlerFunc(s.serveWebSocket)
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Sec-WebSocket-Protocol", "xmpp")
		http.Error(w, "XMPP over WebSocket (RFC 7395): connect with a WebSocket client and subprotocol xmpp", http.StatusUpgradeRequired)
		return
	}
	if !offersXMPP(r) {
		http.Error(w, "the WebSocket subprotocol xmpp is required (RFC 7395 §3.1)", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "the hub is shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{"xmpp"},
		// Any Origin is accepted. Cross-site WebSocket hijacking abuses
		// credentials the browser adds by itself (cookies, HTTP auth);
		// XMPP over WebSocket carries none: the client authenticates
		// with SASL inside the stream, so a page from another site gets
		// nothing it could not get by connecting on its own, and XMPP
		// web clients are often served from another origin.
		InsecureSkipVerify: true,
		// Compression stays off: stanzas mix secrets with text an
		// attacker may choose (CRIME, BREACH), and it costs CPU per
		// connection.
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		s.log.Info("websocket handshake failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	secure := r.TLS != nil
	if f, ok := r.Context().Value(forwardedKey{}).(forwarded); ok {
		// The client's leg is the proxy's to report; the address rules
		// below (limits, loopback) apply to the client.
		r2 := *r
		r2.RemoteAddr = netip.AddrPortFrom(f.ip, 0).String()
		r, secure = &r2, f.secure
	}
	c := newWSConn(ws, r, s.cfg.Limits.MaxStanzaSize, s.domain, s.log.Info)
	ip := remoteIP(c)
	s.serve(c, &negotiation{
		srv:      s,
		overHTTP: true,
		secure:   secure,
		plainOK:  s.cfg.AllowPlain || ip.IsLoopback(),
	})
}

type forwardedKey struct{}

type forwarded struct {
	ip     netip.Addr
	secure bool
}

// Forwarded marks a WebSocket request as passed on by a trusted reverse
// proxy: the client is at ip, and reached the proxy over TLS when secure.
// The handler then applies its per-address limits and its loopback rule
// to the client and counts the stream as secure when the client's leg is.
// Only a caller that knows the proxy is trusted may call it.
func Forwarded(r *http.Request, ip netip.Addr, secure bool) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), forwardedKey{}, forwarded{ip, secure}))
}

func offersXMPP(r *http.Request) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if strings.TrimSpace(p) == "xmpp" {
				return true
			}
		}
	}
	return false
}

// wsConn is a WebSocket connection as a net.Conn carrying an RFC 6120
// stream (see the top of this file). A goroutine reads messages, checks
// and translates them; Read hands their bytes on. Deadlines behave as on a
// TCP connection: a read deadline passing leaves the connection usable
// (the session pings an idle client, then reads on), which coder/websocket
// cannot do by itself since a cancelled read closes its connection.
type wsConn struct {
	ws        *websocket.Conn
	local     net.Addr
	remote    net.Addr
	limit     atomic.Int64 // bytes in one message: small until the session is bound
	domain    string       // for a stream header, if an error comes before ours
	logf      func(msg string, args ...any)
	in        chan wsIn
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	keepAlive atomic.Pointer[time.Timer] // WebSocket pings: see pingPeer
	deadlines
	cur        []byte // the rest of the message Read is handing on
	rerr       error  // once set, what Read returns
	wmu        sync.Mutex
	out        framer
	writeEnded bool // a stream error went out from this side: no more writes
}

// wsIn is one message, translated, or the stream error it deserves.
type wsIn struct {
	data []byte
	fail *streamErr
}

func newWSConn(ws *websocket.Conn, r *http.Request, limit int, domain string, logf func(string, ...any)) *wsConn {
	c := &wsConn{
		ws: ws, domain: domain, logf: logf,
		in: make(chan wsIn), done: make(chan struct{}),
		local:  tcpAddr(r.Context().Value(http.LocalAddrContextKey)),
		remote: tcpAddr(r.RemoteAddr),
	}
	// The library's own limit stays above ours, so that ours is the one
	// that speaks: with a stream error rather than a bare close code.
	ws.SetReadLimit(int64(limit) + 64)
	c.limit.Store(int64(min(limit, wsNegotiationMessage)))
	go c.readMessages()
	c.keepAlive.Store(time.AfterFunc(wsPingEvery, c.pingPeer))
	return c
}

// wsNegotiationMessage bounds a message before the session is bound: SASL
// and bind need a few hundred bytes, and an unauthenticated client should
// not make the hub hold its full stanza size (as a TCP client cannot: its
// whole negotiation is read through a 2 KiB buffer).
const wsNegotiationMessage = 16 << 10

// bound lifts the message limit to the stanza size once the session is
// bound.
func (c *wsConn) bound(limit int) { c.limit.Store(int64(limit)) }

// wsPingEvery is how often the hub sends a WebSocket ping. Reverse proxies
// close connections quiet for a minute (nginx's proxy_read_timeout), long
// before the hub's XMPP ping of an idle client; the ping frames keep the
// connection open through them. The browser answers by itself.
const wsPingEvery = 30 * time.Second

// pingPeer sends one WebSocket ping and arms the next. A missing pong is
// left to the session's own idle rule.
func (c *wsConn) pingPeer() {
	ctx, cancel := context.WithTimeout(context.Background(), wsPingEvery)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	c.ws.Ping(ctx)
	select {
	case <-c.done:
	default:
		c.keepAlive.Load().Reset(wsPingEvery)
	}
}

func tcpAddr(a any) net.Addr {
	switch a := a.(type) {
	case net.Addr:
		return a
	case string:
		if ap, err := netip.ParseAddrPort(a); err == nil {
			return net.TCPAddrFromAddrPort(ap)
		}
	}
	return &net.TCPAddr{}
}

// readMessages reads messages until the connection ends or one of them
// ends the stream. It runs for the life of the connection.
func (c *wsConn) readMessages() {
	defer close(c.in)
	for {
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return
		}
		var m wsIn
		limit := c.limit.Load()
		if typ != websocket.MessageText {
			m.fail = &streamErr{"unsupported-encoding", "XMPP over WebSocket uses text messages only (RFC 7395 §3.2)"}
		} else if b, err := io.ReadAll(io.LimitReader(r, limit+1)); err != nil {
			return
		} else if int64(len(b)) > limit {
			m.fail = &streamErr{"policy-violation", fmt.Sprintf("a message larger than %d bytes", limit)}
		} else if m.data, err = frameIn(nil, b); err != nil {
			m.fail = &streamErr{"not-well-formed", err.Error()}
		} else if len(m.data) == 0 {
			continue
		}
		select {
		case c.in <- m:
		case <-c.done:
			return
		}
		if m.fail != nil {
			return
		}
	}
}

func (c *wsConn) Read(p []byte) (int, error) {
	if len(c.cur) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		select {
		case m, ok := <-c.in:
			switch {
			case !ok:
				c.rerr = io.EOF
				return 0, io.EOF
			case m.fail != nil:
				c.rerr = io.EOF
				c.fail(*m.fail)
				return 0, io.EOF
			}
			c.cur = m.data
		case <-c.rdl.expired():
			return 0, os.ErrDeadlineExceeded
		case <-c.done:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// fail ends the stream with a stream error for what the client sent
// (RFC 7395 §3.6.2: <open/> first if none went out, then the error, then
// <close/>), and refuses further writes. The reader of the connection sees
// the end of the stream and closes it.
func (c *wsConn) fail(e streamErr) {
	c.logf("websocket client stream error", "remote", c.remote.String(), "condition", e.cond, "text", e.text)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeEnded {
		return
	}
	c.out.pending = c.out.pending[:0] // never half an element
	out := streamError(e.cond, e.text)
	if !c.out.opened {
		out = streamHeader(c.domain) + out
	}
	c.wdl.set(time.Now().Add(time.Second))
	c.writeLocked([]byte(out))
	c.writeEnded = true
}

// Write sends each complete element in p, with what earlier writes left
// over, as one message; what is left of an element waits for the next
// write.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	if c.writeEnded {
		return 0, net.ErrClosed
	}
	return c.writeLocked(p)
}

func (c *wsConn) writeLocked(p []byte) (int, error) {
	if err := c.out.write(p, c.send); err != nil {
		if errors.Is(err, errBadOutput) {
			c.Close()
		}
		return 0, err
	}
	return len(p), nil
}

// send writes one message; wmu is held.
func (c *wsConn) send(msg []byte) error {
	return c.ws.Write(c.wdl.context(), websocket.MessageText, msg)
}

// Close ends the WebSocket connection with the closing handshake, in the
// background: the peer has up to the library's timeout (5 s) to answer,
// and nobody should wait for a peer that has gone.
func (c *wsConn) Close() error {
	c.closeOnce.Do(func() {
		c.keepAlive.Load().Stop()
		close(c.done)
		go c.ws.Close(websocket.StatusNormalClosure, "")
	})
	return nil
}

func (c *wsConn) LocalAddr() net.Addr  { return c.local }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }
