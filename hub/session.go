package hub

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlesc"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Buffer sizes for a session's reads: small while idle, growing for large
// stanzas up to the stanza limit, and shrunk back once a large one is done.
const (
	readMin      = 2048
	readShrinkAt = 32 << 10
	maxPingGrace = 60 * time.Second
)

// session is one bound client connection. A reader goroutine parses and
// routes what the client sends; what others send to the client is appended to
// its outbox and written by a short-lived flusher goroutine, so writes
// coalesce and a slow client never blocks the sender.
type session struct {
	srv  *Server
	conn net.Conn
	ip   netip.Addr

	jid      jid.JID
	local    string // normalized localpart
	resource string
	full     string
	bare     string
	// Pre-escaped attributes for stamping.
	fromAttr     []byte // ` from='full'`
	bareFromAttr []byte // ` from='bare'`
	toAttr       []byte // ` to='full'`

	initial []byte // read during negotiation, not yet parsed
	scratch []byte // for the read loop: unescaped addresses

	// presence: 0 when unavailable, else priority+presenceBias. Read
	// without locks on the message path.
	pres atomic.Int32

	blocks          atomic.Pointer[blockSet] // the account's blocklist (XEP-0191), nil if empty
	blocklistWanted atomic.Bool              // asked for the blocklist: gets its pushes
	carbons         atomic.Bool              // enabled message carbons (XEP-0280): carbons.go

	pmu        sync.Mutex // guards the fields below
	presence   []byte     // the last available presence the client sent
	presEl     wire.Element
	interested bool // asked for the roster (RFC 6121 §2.1.6)
	directed   map[string]struct{}
	features   features // verified entity capabilities (XEP-0115)
	capsAsked  bool     // a capabilities question is outstanding
	capsKey    string   // the capabilities hash the session announced last

	omu      sync.Mutex
	sm       *smState // stream management (sm.go); written only by the read loop
	parked   bool     // hibernated: nothing is written (sm_resume.go)
	inactive bool     // the client said <inactive/> (csi.go)
	out      []byte
	exempt   int // bytes of out the slow-reader limit does not count: stored messages
	backlog  backlog
	flushing bool
	closed   bool

	shaper shaper // the read loop's alone

	wmu       sync.Mutex // serializes writes to conn
	closeOnce sync.Once
}

const presenceBias = 1 << 10

// newSession registers a session for a JID being bound. Its outbox is held
// (no flusher runs) until start, because mellium is still writing the bind
// result to the connection.
func (s *Server) newSession(conn net.Conn, ip netip.Addr, j jid.JID) *session {
	ss := &session{
		srv: s, conn: conn, ip: ip, jid: j,
		local: j.Localpart(), resource: j.Resourcepart(),
		full: j.String(), bare: j.Bare().String(),
		flushing: true, shaper: s.newSessionShaper(),
	}
	ss.fromAttr = xmlesc.Attr(nil, "from", ss.full)
	ss.bareFromAttr = xmlesc.Attr(nil, "from", ss.bare)
	ss.toAttr = xmlesc.Attr(nil, "to", ss.full)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.wg.Add(1)
	old := s.router.add(ss)
	s.mu.Unlock()
	s.blocking.attach(ss)
	if old != nil {
		// RFC 6120 §7.7.2.2: the newer session takes over the resource.
		// The old one may be stuck writing to a dead peer: do not wait.
		go old.closeWithError(errConflict)
	}
	s.accounts.SetOnline(ss.local, true)
	s.log.Debug("session bound", "jid", ss.full, "ip", ip)
	return ss
}

// start releases the outbox and runs the read loop on a fresh goroutine, so
// that the stack grown during TLS and SASL is left behind. initial is what
// the client sent after its bind request.
func (ss *session) start(initial []byte) {
	ss.initial = append([]byte(nil), initial...)
	ss.omu.Lock()
	ss.flushing = false
	pending := len(ss.out) > 0 && !ss.closed
	ss.flushing = pending
	ss.omu.Unlock()
	if pending {
		go ss.flush()
	}
	go ss.readLoop()
}

func (ss *session) available() bool { return ss.pres.Load() != 0 }

// deliverable reports whether messages to the bare JID go here (RFC 6121
// §8.5.2.1.1: available with non-negative priority).
func (ss *session) deliverable() bool { return ss.pres.Load() >= presenceBias }

// readLoop reads and routes stanzas until the stream ends.
func (ss *session) readLoop() {
	defer ss.linkEnded()
	lim := ss.srv.cfg.Limits
	sc := wire.NewScanner(wire.Limits{MaxSize: lim.MaxStanzaSize, MaxDepth: lim.MaxDepth}, stanza.NSClient)
	buf := make([]byte, 0, max(readMin, len(ss.initial)+readMin))
	buf = append(buf, ss.initial...)
	read := len(ss.initial) // bytes read since the shaper last charged them
	ss.initial = nil
	pinged := false
	for {
		off, stanzas, messages := 0, 0, 0
		for {
			el, n, err := sc.Next(buf[off:])
			if err != nil {
				var we *wire.Error
				if errors.As(err, &we) {
					ss.closeWithError(streamErr{we.Condition, we.Text})
				}
				return
			}
			if n == 0 {
				break
			}
			off += n
			if el != nil {
				stanzas++
				if el.Kind == wire.KindMessage {
					messages++
				}
				if !ss.handle(el) {
					return
				}
			}
		}
		if d := ss.shaper.delay(time.Now(), stanzas, messages, read); d > 0 {
			ss.pauseReads(d)
		}
		buf = buf[:copy(buf, buf[off:])]
		switch {
		case len(buf) == 0 && cap(buf) > readShrinkAt:
			buf = make([]byte, 0, readMin)
		case cap(buf)-len(buf) < readMin/2:
			bigger := make([]byte, len(buf), 2*cap(buf))
			copy(bigger, buf)
			buf = bigger
		}
		timeout := lim.IdleTimeout
		if pinged {
			timeout = min(lim.IdleTimeout, maxPingGrace)
		}
		ss.conn.SetReadDeadline(time.Now().Add(timeout))
		if ss.isClosed() {
			// Checked after setting the deadline: shutdown marks the
			// session closed before it shortens the deadline.
			return
		}
		n, err := ss.conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		read = n
		if n > 0 {
			pinged = false
			continue
		}
		if isTimeout(err) && !pinged {
			// XEP-0199 §4.2: check the client is still there before
			// giving up on it.
			pinged = true
			ss.send(ss.srv.serverPing(ss))
			continue
		}
		if isTimeout(err) && !ss.resumable() {
			ss.closeWithError(streamErr{"connection-timeout", "no answer to ping"})
		}
		return
	}
}

// handle processes one stanza; it reports false when the stream is over.
func (ss *session) handle(el *wire.Element) bool {
	if el.Kind == wire.KindMessage || el.Kind == wire.KindPresence || el.Kind == wire.KindIQ {
		ss.srv.stats.in.Add(1)
	}
	switch el.Kind {
	case wire.KindStreamEnd:
		ss.shutdown("</stream:stream>")
		return false
	case wire.KindStreamError:
		ss.srv.log.Info("client sent a stream error", "jid", ss.full, "error", string(el.Raw))
		ss.shutdown("</stream:stream>")
		return false
	case wire.KindNonza:
		return ss.smNonza(el)
	case wire.KindMessage:
		ss.srv.routeMessage(ss, el)
	case wire.KindPresence:
		ss.srv.handlePresence(ss, el)
	case wire.KindIQ:
		ss.srv.routeIQ(ss, el)
	}
	ss.smHandled()
	return !ss.isClosed()
}

func (ss *session) isClosed() bool {
	ss.omu.Lock()
	defer ss.omu.Unlock()
	return ss.closed
}

// bufPool holds outbox buffers while sessions are idle.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBuf = 64 << 10

func getBuf() []byte { return (*bufPool.Get().(*[]byte))[:0] }

func putBuf(b []byte) {
	if b != nil && cap(b) <= maxPooledBuf {
		b = b[:0]
		bufPool.Put(&b)
	}
}

// send queues a complete stanza for the client. It reports false when the
// session is closed.
func (ss *session) send(b []byte) bool { return ss.sendAllowing(b, 0, 1) }

// sendAllowing queues n complete stanzas b, of which allow bytes do not
// count against the slow-reader limit until they are written.
func (ss *session) sendAllowing(b []byte, allow, n int) bool {
	if !ss.openOutbox() {
		return false
	}
	ss.out = append(ss.out, b...)
	ss.exempt += allow
	ss.srv.stats.out.Add(uint64(n))
	return ss.queued()
}

// sendStamped queues el with its from replaced by fromAttr, building it
// straight into the outbox.
func (ss *session) sendStamped(el *wire.Element, fromAttr []byte) bool {
	if !ss.openOutbox() {
		return false
	}
	ss.out = wire.AppendStamped(ss.out, el, fromAttr)
	ss.srv.stats.out.Add(1)
	return ss.queued()
}

// openOutbox takes ss.omu and readies the outbox for appending, to be
// followed by queued. It reports false, without the lock, when the session
// is closed.
func (ss *session) openOutbox() bool {
	ss.omu.Lock()
	if ss.closed {
		ss.omu.Unlock()
		return false
	}
	if ss.out == nil {
		ss.out = getBuf()
	}
	return true
}

// queued starts a flusher if none runs, or cuts the client off when it has
// fallen too far behind (backlog.go). ss.omu is held on entry and released.
func (ss *session) queued() bool { return ss.queuedHeld(false) }

// queuedHeld is queued, but with hold it starts no flusher: the stanza
// waits for the next one that must go out (csi.go).
func (ss *session) queuedHeld(hold bool) bool {
	if len(ss.out) > min(conflateFrom, ss.srv.cfg.Limits.MaxPending) {
		n := ss.pending()
		if n > ss.srv.cfg.Limits.MaxPending {
			return ss.overflowed()
		}
		ss.srv.stats.notePending(n)
	}
	start := !ss.flushing && !ss.parked && !hold
	ss.flushing = ss.flushing || start
	ss.omu.Unlock()
	if start {
		go ss.flush()
	}
	return true
}

// flush writes the outbox until it is empty. Stanzas queued while a write is
// in progress go out together in the next one.
func (ss *session) flush() {
	var spare []byte
	for {
		ss.omu.Lock()
		b := ss.out
		if len(b) == 0 || ss.closed || ss.parked {
			ss.flushing = false
			if !ss.closed && !ss.parked {
				ss.out = nil
				putBuf(b)
			}
			ss.omu.Unlock()
			putBuf(spare)
			return
		}
		b = ss.smSent(ss.taken())
		ss.out, ss.exempt = spare, 0
		ss.omu.Unlock()

		ss.wmu.Lock()
		conn := ss.conn
		err := ss.write(b)
		ss.wmu.Unlock()
		if err != nil {
			ss.writeFailed(err, conn)
			return
		}
		spare = b[:0]
	}
}

// streamErr is a stream error condition with its text.
type streamErr struct{ cond, text string }

var (
	errConflict       = streamErr{"conflict", "replaced by a new connection for this resource"}
	errSystemShutdown = streamErr{"system-shutdown", "the hub is shutting down"}
	errAccountRemoved = streamErr{"not-authorized", "the account was removed"}
)

func (ss *session) closeWithError(e streamErr) {
	if ss.smClosing() {
		return
	}
	ss.shutdown(streamError(e.cond, e.text))
}

// shutdown writes what is queued and tail and shuts the write side. The
// read loop wakes up, ends, and closes the connection in teardown.
func (ss *session) shutdown(tail string) {
	ss.closeOnce.Do(func() {
		ss.omu.Lock()
		pending := ss.taken()
		ss.out, ss.closed = nil, true
		ss.omu.Unlock()
		// A flusher stuck writing to a peer that does not read gives up
		// within a second instead of its full write timeout.
		ss.conn.SetWriteDeadline(time.Now().Add(time.Second))
		ss.wmu.Lock()
		ss.conn.SetWriteDeadline(time.Now().Add(time.Second))
		ss.conn.Write(append(pending, tail...))
		if cw, ok := ss.conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		ss.wmu.Unlock()
		ss.conn.SetReadDeadline(time.Now().Add(lingerTime))
	})
}

// teardown runs when the read loop ends, however it ends.
func (ss *session) teardown() {
	s := ss.srv
	ss.shutdown("")
	lingerClose(ss.conn)
	s.router.remove(ss)
	s.forget(ss)
	s.presenceGone(ss)
	s.accounts.SetOnline(ss.local, false)
	s.limiter.release(ss.ip)
	s.smEnd(ss)
	s.log.Debug("session ended", "jid", ss.full)
	s.wg.Done()
}
