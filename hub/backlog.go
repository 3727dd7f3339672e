package hub

import (
	"net"
	"time"

	"github.com/geohub/geohub/hub/internal/wire"
)

// A consumer that falls behind gets the latest state, not every state
// (DESIGN.md "Delivery under pressure"). A stanza that carries state has a
// key: a pubsub or PEP item notification its node and publisher, a presence
// its sender's full JID. Once conflateFrom bytes wait unwritten for a
// session, the keyed stanzas queued after that are remembered, and a newer
// one with the same key supersedes the queued one: the old bytes are skipped
// when the outbox is written, and the new stanza takes its place at the end,
// after whatever was queued in between (so a retraction or a purge in between
// keeps its order). Messages have no key and are never dropped.
//
// A session is cut off only when more than Limits.MaxPending bytes wait for
// it (overflow) or when the hub could not write writeChunk bytes to it
// within Limits.StallTimeout (stalled).

const (
	conflateFrom = 32 << 10 // unwritten bytes from which keyed stanzas are conflated
	compactFrom  = 64 << 10 // superseded bytes from which the outbox is compacted before it is written
	writeChunk   = 64 << 10 // bytes per write, each with a fresh stall deadline
)

// backlog is the conflation state of a session's outbox; ss.omu guards it.
type backlog struct {
	keys  map[string]int // key -> index in spans of the queued stanza that carries it
	spans []span         // keyed stanzas in out, in the order queued
	dead  int            // bytes of out superseded
	cut   bool           // cut off: said once
}

// span is a keyed stanza queued in out[off:off+n].
type span struct {
	key    string
	off, n int
	dead   bool
}

// sendLatest queues a complete stanza that carries the state named key;
// with an empty key it is send.
func (ss *session) sendLatest(b []byte, key string) bool {
	if key == "" {
		return ss.send(b)
	}
	ss.omu.Lock()
	if ss.closed {
		ss.omu.Unlock()
		return false
	}
	if ss.out == nil {
		ss.out = getBuf()
	}
	off := len(ss.out)
	ss.out = append(ss.out, b...)
	ss.srv.stats.out.Add(1)
	if off >= conflateFrom || ss.holdsState() {
		ss.supersede(key, off)
	}
	return ss.queuedHeld(ss.inactive)
}

// presenceState reports presence that a newer one from the same sender
// supersedes: available and unavailable, not errors. Its key is the
// sender's from attribute.
func presenceState(el *wire.Element) bool {
	t := el.Value(el.Type)
	return len(t) == 0 || string(t) == "unavailable"
}

// supersede notes that out[off:] carries the state key, and marks the
// stanza queued earlier with the same key superseded. ss.omu is held.
func (ss *session) supersede(key string, off int) {
	bl := &ss.backlog
	if bl.keys == nil {
		bl.keys = make(map[string]int)
	}
	if i, ok := bl.keys[key]; ok {
		bl.spans[i].dead = true
		bl.dead += bl.spans[i].n
		ss.srv.stats.conflated.Add(1)
	}
	bl.keys[key] = len(bl.spans)
	bl.spans = append(bl.spans, span{key: key, off: off, n: len(ss.out) - off})
	if bl.dead >= compactFrom && bl.dead > len(ss.out)/2 {
		ss.compact()
	}
}

// compact removes superseded stanzas from out, keeping the order of the
// rest. ss.omu is held.
func (ss *session) compact() {
	bl := &ss.backlog
	out := ss.out
	w, r := 0, 0 // out[:w] is compacted; out[r:] is still to move
	live := bl.spans[:0]
	for _, sp := range bl.spans {
		if sp.dead {
			w += copy(out[w:], out[r:sp.off])
			r = sp.off + sp.n
			continue
		}
		sp.off -= r - w
		live = append(live, sp)
	}
	w += copy(out[w:], out[r:])
	ss.out = out[:w]
	clear(bl.spans[len(live):])
	bl.spans, bl.dead = live, 0
	clear(bl.keys)
	for i, sp := range live {
		bl.keys[sp.key] = i
	}
}

// taken is called when the flusher takes out: what it holds can no longer
// be superseded. It returns out without superseded stanzas. ss.omu is held.
func (ss *session) taken() []byte {
	bl := &ss.backlog
	if bl.dead > 0 {
		ss.compact()
	}
	if len(bl.spans) > 0 {
		clear(bl.spans)
		bl.spans = bl.spans[:0]
		clear(bl.keys)
	}
	return ss.out
}

// pending is the bytes waiting for the session that count against
// Limits.MaxPending. ss.omu is held.
func (ss *session) pending() int { return len(ss.out) - ss.exempt - ss.backlog.dead }

// overflowed cuts the session off for having more than Limits.MaxPending
// bytes waiting. ss.omu is held and released.
func (ss *session) overflowed() bool {
	first := !ss.backlog.cut
	ss.backlog.cut = true
	n := ss.pending()
	ss.omu.Unlock()
	if first {
		s := ss.srv
		s.stats.overflowed.Add(1)
		s.log.Warn("session cut off: too much waits for it", "jid", ss.full, "reason", "overflow",
			"pending_bytes", n, "max_pending", s.cfg.Limits.MaxPending)
		go ss.closeWithError(streamErr{"policy-violation", "too much is waiting for you: you read too slowly"})
	}
	return false
}

// write writes b to the connection in chunks, each within the stall
// timeout. ss.wmu is held.
func (ss *session) write(b []byte) error {
	stall := ss.srv.cfg.Limits.StallTimeout
	for len(b) > 0 {
		n := min(len(b), writeChunk)
		ss.conn.SetWriteDeadline(time.Now().Add(stall))
		if _, err := ss.conn.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// writeFailed ends a session whose outbox could not be written: logged and
// counted as stalled when the client took nothing for the stall timeout,
// rather than the session being closed meanwhile or the connection lost.
func (ss *session) writeFailed(err error, conn net.Conn) {
	ss.omu.Lock()
	stalled := isTimeout(err) && !ss.closed && !ss.backlog.cut
	ss.backlog.cut = ss.backlog.cut || stalled
	n := ss.pending()
	ss.flushing = false
	ss.omu.Unlock()
	if stalled {
		s := ss.srv
		s.stats.stalled.Add(1)
		s.log.Warn("session cut off: it stopped reading", "jid", ss.full, "reason", "stalled",
			"stall_timeout", s.cfg.Limits.StallTimeout, "pending_bytes", n)
	}
	conn.Close() // the read loop ends and tears down, or the session hibernates
}
