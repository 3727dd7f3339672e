package hub

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
)

// boshSession is one BOSH session (XEP-0124) as a net.Conn carrying an RFC
// 6120 stream (see bosh.go). HTTP requests come in on the handler's
// goroutines; each is taken in by enqueue, processed in rid order (its
// children appended to what Read hands on), then held until the hub writes
// something, its wait passes, or a newer request needs its place (hold).
// What the hub writes is cut into elements and answers the oldest held
// request. A request the client repeats gets the answer it got before.
//
// Deadlines behave as on a TCP connection. Writes block while the client
// has not fetched boshMaxOut bytes, as a socket's would, so the session's
// own slow-reader rule applies.
type boshSession struct {
	h             *boshHandler
	sid           string
	p             boshParams
	requests      int // simultaneous requests the client may make: hold+1
	domain        string
	local, remote net.Addr
	limit         atomic.Int64 // bytes in one body: small until the session is bound

	mu          sync.Mutex
	next        int64              // the rid to process next
	parked      map[int64]*boshReq // arrived before their turn
	held        []*boshReq         // processed, not answered, oldest first
	recent      map[int64]*boshReq // the last `requests` processed, for replays
	open        int                // requests being served
	idle        *time.Timer        // the inactivity period, while no request is open
	idleAt      time.Time          // when it ends
	pause       time.Duration      // the next idle period, when the client paused
	flushAll    bool               // answer every held request now (pause)
	in          []byte             // stream bytes for Read
	inEOF       bool               // the client's stream has ended
	out         []byte             // elements for the client, not yet in a response
	framer      framer
	authid      string // the hub's stream id
	created     bool   // the session creation response went out
	streamErr   bool   // the hub wrote a stream error
	hubClosed   bool   // the hub wrote </stream:stream>
	terminating bool   // the client asked for the end
	ended       bool
	endCond     string
	endBody     []byte // the answer to the next request after the end

	readable chan struct{} // signalled when in grows or ends
	writable chan struct{} // signalled when out was taken
	done     chan struct{} // closed at the end
	deadlines
}

// boshParams are what the session creation response announces.
type boshParams struct {
	wait, inactivity, maxPause time.Duration
	hold                       int
	lang, ver                  string
}

// boshMaxOut is how much the hub may write before the client fetches it.
const boshMaxOut = 64 << 10

// boshPolling is the shortest interval between empty requests the hub
// announces for clients that do not hold requests (hold='0').
const boshPolling = 2

// boshReq is one request (one rid): answered once, perhaps sent more than
// once.
type boshReq struct {
	rid  int64
	body *boshBody // until processed
	done chan struct{}
	resp []byte
}

func (r *boshReq) answer(b []byte) {
	if r.resp == nil {
		r.resp = b
		close(r.done)
	}
}

func newBOSHSession(h *boshHandler, body *boshBody, p boshParams, local, remote net.Addr) *boshSession {
	ss := &boshSession{
		h: h, sid: newSID(), p: p, requests: p.hold + 1, domain: h.srv.domain,
		local: local, remote: remote,
		next: body.rid, parked: map[int64]*boshReq{}, recent: map[int64]*boshReq{},
		readable: make(chan struct{}, 1), writable: make(chan struct{}, 1), done: make(chan struct{}),
	}
	ss.limit.Store(wsNegotiationMessage)
	ss.in = ss.streamHeader()
	return ss
}

// streamHeader is the client's stream header, which BOSH leaves out: at
// the start and at each restart (XEP-0206 §5, §6).
func (ss *boshSession) streamHeader() []byte {
	b := []byte("<stream:stream xmlns='" + nsJabber + "' xmlns:stream='" + nsStreamNS + "' version='1.0'")
	b = xmlesc.Attr(b, "to", ss.domain)
	if ss.p.lang != "" {
		b = xmlesc.Attr(b, "xml:lang", ss.p.lang)
	}
	return append(b, '>')
}

// bound lifts the body limit to the stanza size once the session is bound.
func (ss *boshSession) bound(limit int) { ss.limit.Store(int64(limit + boshOverhead)) }

func (ss *boshSession) bodyLimit() int { return int(ss.limit.Load()) }

// handle serves one request of the session and returns its answer.
func (ss *boshSession) handle(ctx context.Context, body *boshBody) []byte {
	return ss.await(ctx, ss.enqueue(body))
}

// boshTurn is a request taken in: its own, or for a repeated rid the
// original's (a replay, which only waits for that answer).
type boshTurn struct {
	rec    *boshReq
	replay bool
}

// enqueue takes a request in: a new one is processed at once when its turn
// has come, else parked until it has; a repeated one waits for the answer
// of the first; one outside the window ends the session. The request
// counts as open until await returns.
func (ss *boshSession) enqueue(body *boshBody) boshTurn {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.open++
	if ss.idle != nil {
		ss.idle.Stop()
	}
	if ss.ended {
		return boshTurn{rec: ss.ending()}
	}
	switch {
	case ss.open > ss.requests+1:
		// One more than 'requests' is tolerated: a request the client
		// abandoned that the hub has not yet noticed.
		ss.endLocked("policy-violation", "more simultaneous requests than 'requests'")
		return boshTurn{rec: ss.ending()}
	case body.rid < ss.next:
		if rec := ss.recent[body.rid]; rec != nil {
			return boshTurn{rec: rec, replay: true}
		}
		ss.endLocked("item-not-found", "rid "+strconv.FormatInt(body.rid, 10)+" is too old to repeat")
		return boshTurn{rec: ss.ending()}
	case body.rid >= ss.next+int64(ss.requests):
		ss.endLocked("item-not-found", "rid "+strconv.FormatInt(body.rid, 10)+" is beyond the window")
		return boshTurn{rec: ss.ending()}
	}
	rec := &boshReq{rid: body.rid, body: body, done: make(chan struct{})}
	if old := ss.parked[body.rid]; old != nil {
		old.answer([]byte(emptyBody)) // the client gave up on it and sent it again
	}
	ss.parked[body.rid] = rec
	ss.processParked()
	return boshTurn{rec: rec}
}

// ending is an answered request carrying the terminate body.
func (ss *boshSession) ending() *boshReq {
	rec := &boshReq{done: make(chan struct{})}
	rec.answer(ss.endReply())
	return rec
}

// await waits for the answer to a request, or gives up on it when its
// wait passes or the client goes away. Answers are set under ss.mu before
// done closes, so they are read without it once done has closed.
func (ss *boshSession) await(ctx context.Context, t boshTurn) []byte {
	defer ss.left()
	timer := time.NewTimer(ss.p.wait)
	defer timer.Stop()
	select {
	case <-t.rec.done:
		return t.rec.resp
	case <-timer.C:
	case <-ctx.Done():
	}
	if t.replay {
		// The original is still held and keeps its place; this copy
		// leaves empty.
		return []byte(emptyBody)
	}
	return ss.release(t.rec, ctx.Err() == nil)
}

// release answers rec itself when nothing else has: empty when its wait is
// over or its client gone. A request still parked after its wait means the
// ones before it never came, and the session cannot go on.
func (ss *boshSession) release(rec *boshReq, timedOut bool) []byte {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if rec.resp != nil {
		return rec.resp
	}
	if ss.parked[rec.rid] == rec {
		delete(ss.parked, rec.rid)
		if timedOut {
			ss.endLocked("item-not-found", "the requests before rid "+strconv.FormatInt(rec.rid, 10)+" never came")
			rec.answer(ss.endReply())
		} else {
			rec.answer([]byte(emptyBody)) // its client is gone; it may send it again
		}
		return rec.resp
	}
	for i, h := range ss.held {
		if h == rec {
			ss.held = append(ss.held[:i], ss.held[i+1:]...)
			rec.answer(ss.response(nil))
			return rec.resp
		}
	}
	rec.answer([]byte(emptyBody)) // not reached: every request is parked or held until answered
	return rec.resp
}

// left counts a request as served; when none is left, the inactivity
// period (or the pause the client asked for) starts.
func (ss *boshSession) left() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.open--
	if ss.open > 0 || ss.ended {
		return
	}
	d := ss.p.inactivity
	if ss.pause > 0 {
		d, ss.pause = ss.pause, 0
	}
	ss.idleAt = time.Now().Add(d)
	if ss.idle == nil {
		ss.idle = time.AfterFunc(d, ss.expire)
	} else {
		ss.idle.Reset(d)
	}
}

// expire ends the session when its inactivity period is over. A timer
// that fired as a request came in, or before a later period, finds a
// request open or its end not yet reached.
func (ss *boshSession) expire() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.open == 0 && !ss.ended && !time.Now().Before(ss.idleAt) {
		ss.endLocked("", "inactivity")
	}
}

// processParked processes the parked requests whose turn has come, in rid
// order, then answers what can be answered. ss.mu is held.
func (ss *boshSession) processParked() {
	for !ss.ended {
		rec := ss.parked[ss.next]
		if rec == nil {
			break
		}
		delete(ss.parked, ss.next)
		ss.next++
		ss.recent[rec.rid] = rec
		delete(ss.recent, rec.rid-int64(ss.requests))
		ss.held = append(ss.held, rec)
		body := rec.body
		rec.body = nil
		ss.process(body)
	}
	ss.dispatch()
}

// process hands the client's part of one request to the stream. ss.mu is
// held.
func (ss *boshSession) process(b *boshBody) {
	if b.pause > 0 {
		pause := time.Duration(b.pause) * time.Second
		if pause > ss.p.maxPause {
			ss.endLocked("policy-violation", "a pause longer than maxpause")
			return
		}
		ss.pause, ss.flushAll = pause, true
	}
	n := len(ss.in)
	if b.restart {
		ss.in = append(ss.in, ss.streamHeader()...)
	}
	ss.in = append(ss.in, b.payload...)
	if b.typ == "terminate" {
		ss.in = append(ss.in, "</stream:stream>"...)
		ss.terminating = true
	}
	if len(ss.in) > (ss.requests+1)*ss.bodyLimit() {
		ss.endLocked("policy-violation", "sending faster than the hub reads")
		return
	}
	if len(ss.in) > n {
		signal(ss.readable)
	}
}

// dispatch answers held requests: the oldest with everything the hub has
// written, any beyond hold (or all, on a pause) with what there is. While
// the client terminates, its requests wait for the end. ss.mu is held.
func (ss *boshSession) dispatch() {
	for len(ss.held) > 0 && !ss.terminating {
		var resp []byte
		switch {
		case len(ss.out) > 0:
			resp = ss.response(ss.out)
			ss.out = nil
			signal(ss.writable)
		case len(ss.held) > ss.p.hold || ss.flushAll:
			resp = ss.response(nil)
		default:
			return
		}
		ss.held[0].answer(resp)
		ss.held = ss.held[1:]
	}
	ss.flushAll = false
}

// response wraps payload in a <body/>: the first one with the session's
// attributes (XEP-0124 §7.1, XEP-0206 §5). ss.mu is held.
func (ss *boshSession) response(payload []byte) []byte {
	if ss.created {
		return responseBody(payload)
	}
	ss.created = true
	p := ss.p
	b := []byte(`<body xmlns='` + nsHTTPBind + `' xmlns:xmpp='` + nsXBOSH + `' xmlns:stream='` + nsStreamNS + `'`)
	attr := func(name, value string) { b = xmlesc.Attr(b, name, value) }
	secs := func(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
	attr("sid", ss.sid)
	attr("wait", secs(p.wait))
	attr("hold", strconv.Itoa(p.hold))
	attr("requests", strconv.Itoa(ss.requests))
	attr("inactivity", secs(p.inactivity))
	attr("polling", strconv.Itoa(boshPolling))
	attr("maxpause", secs(p.maxPause))
	attr("ver", p.ver)
	attr("from", ss.domain)
	if ss.authid != "" {
		attr("authid", ss.authid)
	}
	// The connection manager and the server are one process.
	attr("secure", "true")
	attr("xmpp:version", "1.0")
	attr("xmpp:restartlogic", "true")
	if len(payload) == 0 {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	b = append(b, payload...)
	return append(b, "</body>"...)
}

// end ends the session for a reason of the BOSH layer.
func (ss *boshSession) end(cond string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.endLocked(cond, "refused request")
}

// endLocked ends the session: held requests get the terminate body (the
// first with what the hub had still for the client, unless the client
// ended it), the stream the hub
// reads ends, and the sid is forgotten. ss.mu is held.
func (ss *boshSession) endLocked(cond, why string) {
	if ss.ended {
		return
	}
	ss.ended = true
	ss.endCond = cond
	if ss.terminating && cond == "" {
		// XEP-0124 §13: the answer to the client's terminate is empty;
		// what came for the client since it ended is not wanted.
		ss.out = nil
	}
	ss.endBody = terminateBody(cond, ss.out)
	ss.out = nil
	if ss.idle != nil {
		ss.idle.Stop()
	}
	for _, rec := range ss.held {
		rec.answer(ss.endReply())
	}
	ss.held = nil
	for rid, rec := range ss.parked {
		rec.answer(terminateBody(cond, nil))
		delete(ss.parked, rid)
	}
	ss.inEOF = true
	signal(ss.readable)
	close(ss.done)
	ss.h.remove(ss.sid)
	ss.h.srv.log.Debug("bosh session ended", "sid", ss.sid, "remote", ss.remote.String(), "condition", cond, "why", why)
}

// endReply is the terminate body for the next request after the end: what
// was left for the client goes to the first only.
func (ss *boshSession) endReply() []byte {
	b := ss.endBody
	ss.endBody = terminateBody(ss.endCond, nil)
	return b
}

// hubEndCondition is the condition when the hub ends the stream (XEP-0206
// §7): none when the client asked for it.
func (ss *boshSession) hubEndCondition() string {
	switch {
	case ss.terminating:
		return ""
	case ss.streamErr:
		return "remote-stream-error"
	}
	return "remote-connection-failed"
}

func (ss *boshSession) Read(p []byte) (int, error) {
	for {
		ss.mu.Lock()
		if len(ss.in) > 0 {
			n := copy(p, ss.in)
			ss.in = ss.in[n:]
			if len(ss.in) == 0 {
				ss.in = nil
			}
			ss.mu.Unlock()
			return n, nil
		}
		eof := ss.inEOF
		ss.mu.Unlock()
		if eof {
			return 0, io.EOF
		}
		select {
		case <-ss.readable:
		case <-ss.rdl.expired():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// Write queues each complete element in p for the client (what is left
// of an element waits for the next write) and answers a held request
// with them. The hub's stream header gives the authid; its end ends the
// session.
func (ss *boshSession) Write(p []byte) (int, error) {
	ss.mu.Lock()
	for !ss.ended && len(ss.out) >= boshMaxOut {
		ss.mu.Unlock()
		select {
		case <-ss.writable:
		case <-ss.done:
		case <-ss.wdl.expired():
			return 0, os.ErrDeadlineExceeded
		}
		ss.mu.Lock()
	}
	defer ss.mu.Unlock()
	if ss.ended {
		return 0, net.ErrClosed
	}
	if err := ss.framer.write(p, ss.emit); err != nil {
		ss.endLocked("remote-connection-failed", err.Error())
		return 0, err
	}
	if ss.hubClosed {
		ss.endLocked(ss.hubEndCondition(), "the hub closed the stream")
	} else {
		ss.dispatch()
	}
	return len(p), nil
}

var frameOpenPrefix = []byte("<open xmlns='" + nsFraming + "'")

// emit takes one unit the framer cut from the hub's output. ss.mu is held.
func (ss *boshSession) emit(msg []byte) error {
	switch {
	case bytes.HasPrefix(msg, frameOpenPrefix):
		ss.authid = streamID(msg)
	case string(msg) == frameClose:
		ss.hubClosed = true
	default:
		if bytes.HasPrefix(msg, []byte("<stream:error")) {
			ss.streamErr = true
		}
		ss.out = append(ss.out, msg...)
	}
	return nil
}

// streamID reads the id of the hub's stream header, as framed in <open/>.
func streamID(open []byte) string {
	tok, err := xml.NewDecoder(bytes.NewReader(open)).RawToken()
	if start, ok := tok.(xml.StartElement); ok && err == nil {
		for _, a := range start.Attr {
			if a.Name.Space == "" && a.Name.Local == "id" {
				return a.Value
			}
		}
	}
	return ""
}

// Close ends the session from the hub's side.
func (ss *boshSession) Close() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.endLocked(ss.hubEndCondition(), "closed by the hub")
	return nil
}

func (ss *boshSession) LocalAddr() net.Addr  { return ss.local }
func (ss *boshSession) RemoteAddr() net.Addr { return ss.remote }

// signal wakes the waiter on c, if any, without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
