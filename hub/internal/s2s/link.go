package s2s

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlnode"
	"mellium.im/xmpp/jid"
)

// link is one authenticated stream with a peer domain. Stanzas from the
// peer are read by run; stanzas to it (on an outgoing stream, or an
// incoming one the peer made bidirectional, XEP-0288) are appended to out
// and written by a short-lived flusher, as a client session's are.
type link struct {
	svc      *Service
	conn     net.Conn
	br       *bufio.Reader // what negotiation read ahead comes first
	peer     string
	outgoing bool
	bidi     bool // the hub may send on it
	last     atomic.Int64

	mu       sync.Mutex
	out      []byte
	flushing bool
	closed   bool
	wmu      sync.Mutex
}

func (s *Service) newLink(c net.Conn, st *stream, peer string, outgoing, bidi bool) *link {
	l := &link{svc: s, conn: c, br: st.br, peer: peer, outgoing: outgoing, bidi: outgoing || bidi}
	l.last.Store(time.Now().UnixNano())
	return l
}

// send queues stanzas for the peer; it reports false when the link is
// closed. A peer that takes less than is sent is cut off once MaxPending
// bytes wait for it, and what waits bounces.
func (l *link) send(b []byte) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	if len(l.out)+len(b) > l.svc.cfg.MaxPending {
		l.mu.Unlock()
		l.svc.log.Warn("stream to peer cut off: it stopped reading", "peer", l.peer, "max_pending", l.svc.cfg.MaxPending)
		l.close("")
		return false
	}
	l.out = append(l.out, b...)
	start := !l.flushing
	l.flushing = true
	l.mu.Unlock()
	if start {
		go l.flush()
	}
	return true
}

func (l *link) flush() {
	for {
		l.mu.Lock()
		b := l.out
		if len(b) == 0 || l.closed {
			l.flushing = false
			l.mu.Unlock()
			return
		}
		l.out = nil
		l.mu.Unlock()
		l.last.Store(time.Now().UnixNano())
		l.wmu.Lock()
		l.conn.SetWriteDeadline(time.Now().Add(l.svc.cfg.ConnectTimeout))
		_, err := l.conn.Write(b)
		l.wmu.Unlock()
		if err != nil {
			l.svc.log.Info("stream to peer failed", "peer", l.peer, "err", err)
			l.close("")
			return
		}
	}
}

// close ends the stream, writing tail first; stanzas still queued are
// bounced.
func (l *link) close(tail string) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	left := l.out
	l.out = nil
	l.mu.Unlock()
	l.svc.unroute(l)
	l.wmu.Lock()
	l.conn.SetWriteDeadline(time.Now().Add(time.Second))
	l.conn.Write([]byte(tail + "</stream:stream>"))
	l.wmu.Unlock()
	l.conn.Close()
	if len(left) > 0 {
		l.svc.h.Bounce(l.peer, left, CondTimeout, "the stream to "+l.peer+" ended")
	}
}

const readMin = 4096

// run reads the peer's stanzas until the stream ends, the peer breaks a
// rule, or nothing crossed the stream for the idle timeout.
func (l *link) run() {
	s := l.svc
	if !s.track(l, false) {
		l.close("")
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.links, l)
		s.mu.Unlock()
	}()
	if l.bidi && !l.outgoing {
		s.adopt(l)
	}
	s.log.Debug("stream up", "peer", l.peer, "outgoing", l.outgoing, "bidi", l.bidi)
	handle := s.h.Stream(l.peer)
	sc := wire.NewScanner(s.cfg.Limits, nsServer)
	pace := func(time.Time, int, int, int) time.Duration { return 0 }
	if s.cfg.Pace != nil {
		pace = s.cfg.Pace()
	}
	buf := make([]byte, 0, readMin)
	if n := l.br.Buffered(); n > 0 {
		b, _ := l.br.Peek(n)
		buf = append(buf, b...)
	}
	var scratch []byte
	read := len(buf)
	for {
		off, stanzas, messages := 0, 0, 0
		for {
			el, n, err := sc.Next(buf[off:])
			if err != nil {
				var we *wire.Error
				if errors.As(err, &we) {
					l.close(streamError{we.Condition, we.Text}.head())
				} else {
					l.close("")
				}
				return
			}
			if n == 0 {
				break
			}
			off += n
			if el == nil {
				continue
			}
			switch el.Kind {
			case wire.KindStreamEnd:
				l.close("")
				return
			case wire.KindStreamError:
				s.log.Info("peer sent a stream error", "peer", l.peer, "error", string(el.Raw))
				l.close("")
				return
			}
			if e := l.check(el, &scratch); e != nil {
				s.log.Warn("peer broke the rules: stream closed", "peer", l.peer, "err", e.text)
				l.close(e.head())
				return
			}
			stanzas++
			if el.Kind == wire.KindMessage {
				messages++
			}
			handle(el)
		}
		l.last.Store(time.Now().UnixNano())
		if d := pace(time.Now(), stanzas, messages, read); d > 0 {
			time.Sleep(d)
		}
		buf = buf[:copy(buf, buf[off:])]
		if cap(buf)-len(buf) < readMin/2 {
			bigger := make([]byte, len(buf), 2*cap(buf))
			copy(bigger, buf)
			buf = bigger
		}
		l.conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		n, err := l.conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		read = n
		if n > 0 {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && !l.idle() {
			continue
		}
		l.close("")
		return
	}
}

// idle reports whether nothing crossed the stream for the idle timeout.
func (l *link) idle() bool {
	l.mu.Lock()
	busy := len(l.out) > 0 || l.flushing
	l.mu.Unlock()
	return !busy && time.Since(time.Unix(0, l.last.Load())) >= l.svc.cfg.IdleTimeout
}

// check enforces RFC 6120 §8.1.1.2 and §8.1.2.2 on a stanza from the peer:
// from at the domain it authenticated as, to at one of the hub's.
func (l *link) check(el *wire.Element, scratch *[]byte) *streamError {
	from, err := l.domainOf(el.Value(el.From), scratch)
	if err != nil || from != l.peer {
		return &streamError{"invalid-from", "stanzas on this stream must come from " + l.peer}
	}
	to, err := l.domainOf(el.Value(el.To), scratch)
	if err != nil || !l.svc.local(to) {
		return &streamError{"host-unknown", "stanzas on this stream must go to this server"}
	}
	return nil
}

func (l *link) domainOf(raw []byte, scratch *[]byte) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("no address")
	}
	v, err := xmlnode.AppendUnescaped((*scratch)[:0], raw)
	if err != nil {
		return "", err
	}
	*scratch = v
	j, err := jid.Parse(string(v))
	if err != nil {
		return "", err
	}
	return j.Domainpart(), nil
}
