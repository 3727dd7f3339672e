package hub

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/hub/internal/wire"
)

// Resumption (XEP-0198 §5). A resumable session whose link drops
// hibernates: it stays bound and available, what is routed to it queues in
// its outbox (notifications and presence conflated, backlog.go), and a new
// connection authenticated as the same account may take it over with
// <resume/> within the window. The hub then sends what the client did not
// acknowledge, in order, and the outbox after it. When the window ends the
// session ends as if the client had left: unavailable presence goes out,
// and the messages it never acknowledged go to offline storage;
// notifications are dropped, their nodes keep the items.

// lifeState says where a resumable session is.
type lifeState uint8

const (
	linked     lifeState = iota // on a link
	hibernated                  // its link is gone; waiting for <resume/>
	resuming                    // being moved to a new link
	ended
)

// errResumed ends mellium's negotiation once a session is resumed: the
// connection belongs to that session from then on.
var errResumed = errors.New("session resumed")

// resumables finds resumable sessions by id and bounds the hibernated ones
// of each account.
type resumables struct {
	mu     sync.Mutex
	byID   map[string]*session
	asleep map[string][]*session // hibernated sessions by account, oldest first
	n      int                   // hibernated sessions
	// Sessions that ended with their window (sm_tomb.go).
	tombs   map[string]*tomb
	tombsOf map[string][]string // tombstone ids by account, oldest first
	// resumed counts resumptions, for Stats.
	resumed atomic.Uint64
}

// hibernated is the number of hibernated sessions.
func (r *resumables) hibernated() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *resumables) add(id string, ss *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = map[string]*session{}
		r.asleep = map[string][]*session{}
	}
	r.byID[id] = ss
}

func (r *resumables) get(id string) *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// remove forgets ss, resumable under id.
func (r *resumables) remove(id string, ss *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID[id] == ss {
		delete(r.byID, id)
	}
	r.wake(ss)
}

// sleep notes that ss hibernates and returns the sessions of its account
// beyond max, oldest first, which must end.
func (r *resumables) sleep(ss *session, max int) []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := append(r.asleep[ss.local], ss)
	r.asleep[ss.local] = l
	r.n++
	if len(l) <= max {
		return nil
	}
	return append([]*session(nil), l[:len(l)-max]...)
}

// wake notes that ss no longer hibernates. r.mu is held.
func (r *resumables) wake(ss *session) {
	l := r.asleep[ss.local]
	for i, o := range l {
		if o == ss {
			l = append(l[:i:i], l[i+1:]...)
			r.n--
			break
		}
	}
	if len(l) == 0 {
		delete(r.asleep, ss.local)
	} else {
		r.asleep[ss.local] = l
	}
}

// linkEnded runs when a session's read loop ends: a resumable session whose
// link was lost hibernates; any other ends.
func (ss *session) linkEnded() {
	if !ss.hibernate() {
		ss.teardown()
	}
}

// resumable reports whether losing the link would hibernate the session.
func (ss *session) resumable() bool {
	ss.omu.Lock()
	defer ss.omu.Unlock()
	return ss.sm != nil && ss.sm.id != "" && ss.sm.life == linked
}

// hibernate parks a resumable session whose link is gone, unless the
// session was closed on purpose. It reports whether it did.
func (ss *session) hibernate() bool {
	s := ss.srv
	ss.omu.Lock()
	m := ss.sm
	if ss.closed || m == nil || m.id == "" || m.life != linked {
		ss.omu.Unlock()
		return false
	}
	m.life = hibernated
	m.since = time.Now()
	m.asking = false // asked on the lost link
	if m.timer != nil {
		m.timer.Stop()
	}
	ss.parked = true
	m.expiry = time.AfterFunc(s.cfg.SM.ResumeWindow, func() { s.expire(ss) })
	parked := m.parked
	ss.omu.Unlock()
	ss.conn.Close()
	close(parked)
	s.log.Debug("session hibernates", "jid", ss.full)
	for _, old := range s.resumable.sleep(ss, s.cfg.SM.MaxHibernated) {
		s.expire(old)
	}
	return true
}

// expire ends a hibernated session: its window is over, or it must go.
func (s *Server) expire(ss *session) {
	ss.omu.Lock()
	m := ss.sm
	if m == nil || m.life != hibernated {
		ss.omu.Unlock()
		return
	}
	m.life = ended
	m.expired = true
	m.expiry.Stop()
	ss.omu.Unlock()
	// Nothing new is routed to it, and what is routed to it from now on
	// finds it closed and goes elsewhere (route.go): what waited in the
	// outbox was never sent, and joins the unacknowledged stanzas, so that
	// their messages are kept.
	s.router.remove(ss)
	ss.omu.Lock()
	m.record(ss.taken())
	ss.out, ss.closed = nil, true
	ss.omu.Unlock()
	s.log.Debug("hibernated session ends", "jid", ss.full)
	ss.teardown()
}

// smClosing ends a hibernated session that is being closed (by a conflict,
// an overflow, the hub's shutdown); it reports whether the session was
// hibernated.
func (ss *session) smClosing() bool {
	ss.omu.Lock()
	hib := ss.sm != nil && ss.sm.life == hibernated
	ss.omu.Unlock()
	if hib {
		ss.srv.expire(ss)
	}
	return hib
}

// smEnd runs as a session ends: it is no longer resumable, and the
// messages it sent that the client did not acknowledge go to offline
// storage (or to another resource that became available).
func (s *Server) smEnd(ss *session) {
	ss.omu.Lock()
	m := ss.sm
	if m == nil {
		ss.omu.Unlock()
		return
	}
	m.life = ended
	if m.timer != nil {
		m.timer.Stop()
	}
	q := m.q
	m.q, m.ends = nil, nil
	t := &tomb{local: ss.local, in: m.in, acked: m.acked, sent: m.sent, ready: make(chan struct{})}
	ss.omu.Unlock()
	defer close(t.ready)
	if m.id != "" {
		s.resumable.remove(m.id, ss)
		if m.expired {
			// Before the messages are stored, which takes a while: a
			// <resume/> from now on finds the tombstone and waits.
			s.resumable.bury(m.id, t, s.cfg.SM.MaxHibernated)
		}
	}
	sc := newOutScanner()
	seq := t.acked
	for off := 0; off < len(q); {
		el, n, err := sc.Next(q[off:])
		if err != nil || n == 0 {
			break
		}
		off += n
		if el == nil || el.Kind == wire.KindNonza {
			continue
		}
		seq++
		if el.Kind != wire.KindMessage || !keepMessage(el) {
			continue
		}
		if err := s.storeOffline(ss.local, el.Raw, el.StartEnd, el.Empty, true); err != nil {
			s.log.Warn("unacknowledged message not kept", "to", ss.local, "err", err)
			continue
		}
		t.stored = append(t.stored, storedSeq{seq: seq, sum: stanzaSum(string(el.Raw))})
	}
}

// keepMessage reports a message worth keeping when its recipient never
// acknowledged it: what offline storage keeps, not notifications.
func keepMessage(el *wire.Element) bool {
	switch string(el.Value(el.Type)) {
	case "error", "groupchat":
		return false
	}
	return storable(el) && !bytes.Contains(el.Raw[el.StartEnd:], []byte(nsPubSubEvent))
}

const nsPubSubEvent = "http://jabber.org/protocol/pubsub#event"

// resume takes over the session previd for this connection (XEP-0198
// §5): only a session of the account that authenticated, and only when the
// h the client reports is possible. A refusal is a <failed/>, after which
// the client may bind a new session.
func (n *negotiation) resume(previd, hs string) error {
	s := n.srv
	h, err := strconv.ParseUint(hs, 10, 32)
	if err != nil {
		return n.writeRaw(smFailed("bad-request", ""))
	}
	ss := s.resumable.get(previd)
	if ss == nil && n.resumeEnded(previd, uint32(h)) {
		return nil
	}
	if ss == nil || ss.local != n.user {
		// The same answer for another account's session: ids are not
		// confirmed to who does not own them.
		return n.writeRaw(smFailed("item-not-found", ""))
	}
	ss.omu.Lock()
	m := ss.sm
	parked, life := m.parked, m.life
	ss.omu.Unlock()
	if life == linked {
		// The client lost the link before the hub noticed: the old read
		// loop ends and the session hibernates.
		ss.conn.Close()
	}
	select {
	case <-parked:
	case <-time.After(5 * time.Second):
		return n.writeRaw(smFailed("item-not-found", ""))
	}
	ss.omu.Lock()
	if m.life != hibernated {
		ss.omu.Unlock()
		return n.writeRaw(smFailed("item-not-found", ""))
	}
	in := strconv.FormatUint(uint64(m.in), 10)
	if !m.ack(uint32(h)) {
		sent := m.sent
		ss.omu.Unlock()
		return n.writeRaw("<failed xmlns='" + nsSM + "' h='" + in + "'><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" +
			"<handled-count-too-high xmlns='" + nsSM + "' h='" + hs + "' send-count='" + strconv.FormatUint(uint64(sent), 10) + "'/></failed>")
	}
	m.life = resuming
	m.expiry.Stop()
	resend := append([]byte("<resumed xmlns='"+nsSM+"' h='"+in+"' previd='"+previd+"'/>"), m.q...)
	ss.omu.Unlock()
	s.resumable.mu.Lock()
	s.resumable.wake(ss)
	s.resumable.mu.Unlock()

	// A flusher may still be failing on the old link: it holds wmu.
	ss.wmu.Lock()
	oldIP := ss.ip
	ss.conn, ss.ip = n.conn.Conn, n.ip
	ss.wmu.Unlock()
	s.limiter.release(oldIP) // the new connection holds its own slot
	if hc, ok := n.conn.Conn.(interface{ bound(limit int) }); ok {
		hc.bound(s.cfg.Limits.MaxStanzaSize)
	}
	werr := n.writeRaw(string(resend))

	ss.omu.Lock()
	m.life = linked
	m.parked = make(chan struct{})
	ss.parked = false
	ss.flushing = true // held until start, as for a new session
	ss.omu.Unlock()
	n.ss, n.bound, n.resumed = ss, ss.jid, true
	s.resumable.resumed.Add(1)
	s.log.Debug("session resumed", "jid", ss.full, "ip", n.ip)
	if werr != nil {
		// The new link is gone already: start ends it, and the session
		// hibernates again.
		s.log.Debug("resumed link lost at once", "jid", ss.full, "err", werr)
	}
	return errResumed
}

// writeRaw writes s to the connection being negotiated.
func (n *negotiation) writeRaw(s string) error {
	n.conn.SetWriteDeadline(time.Now().Add(n.srv.cfg.Limits.StallTimeout))
	_, err := io.WriteString(n.conn, s)
	n.conn.SetWriteDeadline(n.deadline)
	return err
}
