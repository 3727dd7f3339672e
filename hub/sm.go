package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"io"
	"strconv"
	"time"

	"github.com/geohub/geohub/hub/internal/wire"
	"mellium.im/xmpp"
)

// Stream management (XEP-0198): acknowledgements both ways and, with
// resumption (sm_resume.go), sessions that survive their link.
//
// The hub counts a stanza as sent when its flusher takes it from the
// outbox to write it (conflation, backlog.go, may drop a queued one before
// that), and keeps a copy until the client acknowledges it. It counts a
// stanza from the client as handled once the read loop has routed it.

const nsSM = "urn:xmpp:sm:3"

// StreamManagement configures XEP-0198. Zero fields take their defaults.
type StreamManagement struct {
	// ResumeWindow is how long a session whose link dropped waits to be
	// resumed; negative disables resumption.
	ResumeWindow time.Duration
	// MaxUnacked bounds the stanzas sent and not yet acknowledged that a
	// session holds; a client that acknowledges nothing beyond it is cut
	// off (policy-violation).
	MaxUnacked int
	// MaxHibernated bounds the sessions of one account waiting for
	// resumption; beyond it, the oldest ends at once.
	MaxHibernated int
}

// DefaultStreamManagement is used for zero fields of StreamManagement.
var DefaultStreamManagement = StreamManagement{
	ResumeWindow:  5 * time.Minute,
	MaxUnacked:    10000,
	MaxHibernated: 8,
}

func (c *StreamManagement) fill() {
	d := DefaultStreamManagement
	if c.ResumeWindow == 0 {
		c.ResumeWindow = d.ResumeWindow
	}
	if c.MaxUnacked <= 0 {
		c.MaxUnacked = d.MaxUnacked
	}
	if c.MaxHibernated <= 0 {
		c.MaxHibernated = d.MaxHibernated
	}
}

// The hub asks the client for an acknowledgement once ackEvery stanzas
// went out since it last asked, or ackDelay after a stanza went out
// unasked, so it learns soon what arrived without doubling the traffic.
const (
	ackEvery = 16
	ackDelay = time.Second
)

const ackRequest = "<r xmlns='" + nsSM + "'/>"

// smState is a session's stream management; ss.omu guards it but for in,
// which only the read loop of the session's current link touches.
type smState struct {
	id string // resumption id; empty when the session cannot be resumed

	in uint32 // stanzas handled from the client

	sent   uint32 // stanzas taken from the outbox since <enabled/>
	acked  uint32 // the client's last h
	asked  uint32 // sent when the hub last asked for an ack
	asking bool   // an <r/> of the hub's is unanswered
	timer  *time.Timer
	q      []byte // copies of the unacknowledged stanzas, back to back
	ends   []int  // where each of them ends in q
	skip   int    // bytes at the head of the outbox queued before <enabled/>: not counted
	sc     *wire.Scanner
	cut    bool // cut off for holding too many: said once

	// Resumption: sm_resume.go.
	life    lifeState
	expired bool          // ended with its window: its tombstone is kept (sm_tomb.go)
	parked  chan struct{} // closed when the current link's read loop has ended
	expiry  *time.Timer
	since   time.Time // when the session hibernated
}

// smFeature advertises stream management after authentication and answers
// what is sent before the resource is bound: <resume/> (sm_resume.go) and an
// <enable/> too early.
func (n *negotiation) smFeature() xmpp.StreamFeature {
	f := listOnly(nsSM, "sm")
	f.Negotiate = func(_ context.Context, sess *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
		r := sess.TokenReader()
		defer r.Close()
		d := xml.NewTokenDecoder(r)
		tok, err := d.Token()
		if err != nil {
			return 0, nil, err
		}
		start, _ := tok.(xml.StartElement)
		var attrs struct {
			PrevID string `xml:"previd,attr"`
			H      string `xml:"h,attr"`
		}
		if err := d.DecodeElement(&attrs, &start); err != nil {
			return 0, nil, err
		}
		if start.Name.Local == "resume" {
			if err := n.resume(attrs.PrevID, attrs.H); err != nil {
				// mellium goes on reading features after an error
				// unless a stream restart is asked for: one is, and
				// the error ends the negotiation before it happens.
				return 0, n.conn, err
			}
			return 0, nil, nil
		}
		// XEP-0198 §3: stream management is enabled after binding.
		return 0, nil, n.writeRaw(smFailed("unexpected-request", ""))
	}
	return f
}

// smFailed is a <failed/> with a stanza error condition and, when known,
// the h of what the hub handled.
func smFailed(cond, h string) string {
	out := "<failed xmlns='" + nsSM + "'"
	if h != "" {
		out += " h='" + h + "'"
	}
	return out + "><" + cond + " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
}

// smNonza handles a stream management or client state element from a
// bound client; it reports false when the stream is over.
func (ss *session) smNonza(el *wire.Element) bool {
	var x struct {
		XMLName xml.Name
		H       string `xml:"h,attr"`
		Resume  string `xml:"resume,attr"`
	}
	if err := xml.Unmarshal(el.Raw, &x); err != nil {
		ss.closeWithError(streamErr{"not-well-formed", err.Error()})
		return false
	}
	switch x.XMLName {
	case xml.Name{Space: nsSM, Local: "enable"}:
		ss.smEnable(x.Resume == "true" || x.Resume == "1")
	case xml.Name{Space: nsSM, Local: "r"}:
		ss.send([]byte("<a xmlns='" + nsSM + "' h='" + strconv.FormatUint(uint64(ss.smIn()), 10) + "'/>"))
	case xml.Name{Space: nsSM, Local: "a"}:
		return ss.smAck(x.H)
	case xml.Name{Space: nsSM, Local: "resume"}:
		ss.send([]byte(smFailed("unexpected-request", "")))
	case xml.Name{Space: nsCSI, Local: "active"}:
		ss.setInactive(false)
	case xml.Name{Space: nsCSI, Local: "inactive"}:
		ss.setInactive(true)
	default:
		ss.closeWithError(streamErr{"unsupported-stanza-type", "unknown element " + x.XMLName.Local})
		return false
	}
	return !ss.isClosed()
}

// smIn is the h the hub reports: stanzas handled from the client.
func (ss *session) smIn() uint32 {
	if m := ss.smRead(); m != nil {
		return m.in
	}
	return 0
}

func (ss *session) smRead() *smState {
	ss.omu.Lock()
	defer ss.omu.Unlock()
	return ss.sm
}

// smHandled counts a stanza from the client; the read loop calls it once
// the stanza is routed.
func (ss *session) smHandled() {
	if m := ss.sm; m != nil { // set by this read loop
		m.in++
	}
}

// smEnable answers <enable/>. Counting starts with what is queued after
// <enabled/>; what was queued before it is not counted, and no conflation
// may remove it any more.
func (ss *session) smEnable(resume bool) {
	if !ss.openOutbox() {
		return
	}
	if ss.sm != nil {
		ss.out = append(ss.out, smFailed("unexpected-request", "")...)
		ss.queued()
		return
	}
	if ss.backlog.dead > 0 {
		ss.compact()
	}
	clear(ss.backlog.spans)
	ss.backlog.spans = ss.backlog.spans[:0]
	clear(ss.backlog.keys)
	m := &smState{
		sc:     newOutScanner(),
		parked: make(chan struct{}),
	}
	en := "<enabled xmlns='" + nsSM + "'"
	if w := ss.srv.cfg.SM.ResumeWindow; resume && w > 0 {
		m.id = newSMID()
		en += " id='" + m.id + "' resume='true' max='" + strconv.Itoa(int(w/time.Second)) + "'"
	}
	ss.out = append(ss.out, en+"/>"...)
	m.skip = len(ss.out)
	ss.sm = m
	ss.queued()
	if m.id != "" {
		ss.srv.resumable.add(m.id, ss)
	}
}

func newSMID() string {
	b := make([]byte, 18)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// smAck takes the client's <a h=.../>. An h that acknowledges more than was
// sent, or is no number, ends the stream (XEP-0198 §4).
func (ss *session) smAck(hs string) bool {
	h, err := strconv.ParseUint(hs, 10, 32)
	ss.omu.Lock()
	m := ss.sm
	if m == nil {
		ss.omu.Unlock()
		ss.closeWithError(streamErr{"unsupported-stanza-type", "stream management is not enabled"})
		return false
	}
	if err != nil {
		ss.omu.Unlock()
		ss.closeWithError(streamErr{"undefined-condition", "h must be a number from 0 to 4294967295"})
		return false
	}
	if !m.ack(uint32(h)) {
		sent := m.sent
		ss.omu.Unlock()
		ss.shutdown(handledTooHigh(uint32(h), sent))
		return false
	}
	ss.omu.Unlock()
	return true
}

// handledTooHigh is the stream error for an h above what was sent.
func handledTooHigh(h, sent uint32) string {
	return "<stream:error><undefined-condition xmlns='" + nsStreams + "'/><handled-count-too-high xmlns='" + nsSM +
		"' h='" + strconv.FormatUint(uint64(h), 10) + "' send-count='" + strconv.FormatUint(uint64(sent), 10) +
		"'/></stream:error></stream:stream>"
}

// ack drops the stanzas h acknowledges; it reports false when h is beyond
// what was sent. Counts wrap at 2^32, so the difference is what matters.
func (m *smState) ack(h uint32) bool {
	n := h - m.acked
	if n > m.sent-m.acked {
		return false
	}
	m.asking = false
	m.acked = h
	if n == 0 {
		return true
	}
	cut := m.ends[n-1]
	m.q = m.q[:copy(m.q, m.q[cut:])]
	m.ends = m.ends[:copy(m.ends, m.ends[n:])]
	for i := range m.ends {
		m.ends[i] -= cut
	}
	if cap(m.q) > 64<<10 && len(m.q) < cap(m.q)/4 {
		m.q = append([]byte(nil), m.q...)
	}
	return true
}

// unacked is the number of stanzas sent and not acknowledged.
func (m *smState) unacked() int { return len(m.ends) }

// smSent records what the flusher took from the outbox as sent and returns
// it, with a request for an ack appended when one is due. ss.omu is held.
func (ss *session) smSent(b []byte) []byte {
	m := ss.sm
	if m == nil {
		return b
	}
	m.record(b)
	if m.unacked() > ss.srv.cfg.SM.MaxUnacked && !m.cut {
		m.cut = true
		go ss.closeWithError(streamErr{"policy-violation", "too many stanzas unacknowledged"})
		return b
	}
	switch {
	case m.asking || m.sent == m.asked:
	case m.sent-m.asked >= ackEvery:
		b = append(b, ackRequest...)
		m.asking, m.asked = true, m.sent
	case m.timer == nil:
		m.timer = time.AfterFunc(ackDelay, ss.smAskLater)
	default:
		m.timer.Reset(ackDelay)
	}
	return b
}

// record counts the stanzas in b, taken from the outbox, as sent and keeps
// a copy of each until it is acknowledged. ss.omu is held.
func (m *smState) record(b []byte) {
	off := min(m.skip, len(b))
	m.skip = 0
	for off < len(b) {
		el, n, err := m.sc.Next(b[off:])
		if err != nil || n == 0 {
			// The hub queues only whole stanzas it checked: never here.
			m.sc = newOutScanner()
			return
		}
		if el != nil && el.Kind != wire.KindNonza {
			m.q = append(m.q, b[off:off+n]...)
			m.ends = append(m.ends, len(m.q))
			m.sent++
		}
		off += n
	}
}

// newOutScanner reads back what the hub queued for a client: stanzas it
// checked or built, so the limits only guard against a bug looping.
func newOutScanner() *wire.Scanner {
	return wire.NewScanner(wire.Limits{MaxSize: 1 << 30, MaxDepth: 1 << 10, MaxAttrs: 1 << 10}, "jabber:client")
}

// smAskLater asks for an ack of what went out unasked, unless the client
// is inactive with something held for it (an <r/> would flush that).
func (ss *session) smAskLater() {
	if !ss.openOutbox() {
		return
	}
	m := ss.sm
	if m == nil || m.asking || m.sent == m.asked || ss.parked || ss.inactive && len(ss.out) > 0 {
		ss.omu.Unlock()
		return
	}
	m.asking, m.asked = true, m.sent
	ss.out = append(ss.out, ackRequest...)
	ss.queued()
}
