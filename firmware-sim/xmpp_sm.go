package firmwaresim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// A device's XMPP link with stream management (XEP-0198), as firmware on a
// cellular link does it: mellium negotiates TLS, SASL and the resource (or
// resumes the session), then the device reads and writes the stream itself,
// keeping every stanza it sent until the hub acknowledges it. When the link
// drops, the next connection resumes the session: the hub sends again what
// the device missed, the device sends again what the hub missed, and
// nothing is taken twice.

const nsSM = "urn:xmpp:sm:3"

// smState is what outlives a link: the session to resume and the counts.
type smState struct {
	mu       sync.Mutex
	counting bool     // stream management is on for the current link
	id       string   // the session to resume; empty: none
	in       uint32   // stanzas handled from the hub
	out      []string // stanzas sent and not yet acknowledged by the hub
	acked    uint32   // the hub's last h
	link     *smLink  // the current link, nil between links
	nextID   uint64   // IQ ids
	wait     map[string]chan error
}

// smLink is one connection of the session.
type smLink struct {
	conn net.Conn
	sess *xmpp.Session
	done chan struct{} // closed when the link ends
}

var errResumeFailed = errors.New("resumption refused")

// connectSM resumes the session, or logs in afresh, binds, sends presence
// and enables stream management with resumption.
func (st *smState) connect(ctx context.Context, hub Hub, acct Account, resource string) (resumed bool, err error) {
	st.mu.Lock()
	id, in := st.id, st.in
	st.mu.Unlock()
	if id != "" {
		var h uint32
		var resumed bool
		sess, conn, err := smDial(ctx, hub, acct, resource, resumeFeature(id, in, &h, &resumed))
		if err == nil && !resumed {
			// The hub offered no resumption (it restarted, say): the
			// stream is authenticated but not bound; start afresh.
			conn.Close()
			err = errResumeFailed
		}
		if err == nil {
			st.mu.Lock()
			st.ackTo(h)
			st.counting = true
			l := st.start(sess, conn)
			for _, s := range st.out {
				io.WriteString(l.conn, s) // counted already
			}
			st.mu.Unlock()
			return true, nil
		}
		if !errors.Is(err, errResumeFailed) {
			return false, err
		}
	}
	sess, conn, err := smDial(ctx, hub, acct, resource, xmpp.BindResource())
	if err != nil {
		return false, err
	}
	st.mu.Lock()
	pending := st.out
	st.id, st.in, st.acked, st.out, st.counting = "", 0, 0, nil, false
	l := st.start(sess, conn)
	ch := make(chan error, 1)
	st.wait["enabled"] = ch
	st.mu.Unlock()
	// Available, so that operators see the device online; then stream
	// management, if the server offers it (a server compared with the hub
	// may not).
	start := "<presence/>"
	if _, ok := sess.Feature(nsSM); ok {
		start += "<enable xmlns='" + nsSM + "' resume='true'/>"
	} else {
		ch <- nil
	}
	if _, err := io.WriteString(l.conn, start); err != nil {
		conn.Close()
		return false, &Failure{Kind: "stream", Err: err}
	}
	select {
	case err := <-ch:
		if err != nil {
			conn.Close()
			return false, &Failure{Kind: "stream", Err: err}
		}
	case <-l.done:
		return false, &Failure{Kind: "stream", Err: errors.New("link lost while enabling stream management")}
	case <-ctx.Done():
		conn.Close()
		return false, ctx.Err()
	}
	// What the old session never had acknowledged is sent again on the
	// new one: publishes are idempotent at the hub (same item ID).
	st.mu.Lock()
	for _, s := range pending {
		st.sendLocked(s)
	}
	st.mu.Unlock()
	return false, nil
}

// smDial negotiates a stream with last as the feature after SASL.
func smDial(ctx context.Context, hub Hub, acct Account, resource string, last xmpp.StreamFeature) (*xmpp.Session, net.Conn, error) {
	j, err := jid.Parse(acct.JID)
	if err != nil {
		return nil, nil, fmt.Errorf("account %q: %w", acct.JID, err)
	}
	if j, err = j.WithResource(resource); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, hub.timeout())
	defer cancel()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if hub.TLS != nil {
		cfg = hub.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = j.Domain().String()
	}
	var d net.Dialer
	var conn net.Conn
	features := []xmpp.StreamFeature{xmpp.SASL("", acct.Password, sasl.ScramSha256, sasl.ScramSha1), last}
	if hub.DirectTLS {
		cfg.NextProtos = []string{"xmpp-client"}
		conn, err = (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", hub.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", hub.Addr)
		features = append([]xmpp.StreamFeature{xmpp.StartTLS(cfg)}, features...)
	}
	if err != nil {
		return nil, nil, &Failure{Kind: "dial", Err: err}
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	s, err := xmpp.NewClientSession(ctx, j, conn, features...)
	if err != nil {
		conn.Close()
		if errors.Is(err, errResumeFailed) {
			return nil, nil, err
		}
		return nil, nil, &Failure{Kind: loginFailure(err), Err: err}
	}
	conn.SetDeadline(time.Time{})
	return s, s.Conn(), nil
}

// resumeFeature asks the hub to resume session id, having handled in of its
// stanzas; h gets the count of the device's stanzas the hub handled, and
// resumed whether it did (a hub that does not offer it leaves it false).
func resumeFeature(id string, in uint32, h *uint32, resumed *bool) xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:      xml.Name{Space: nsSM, Local: "sm"},
		Necessary: xmpp.Authn,
		Parse: func(_ context.Context, d *xml.Decoder, _ *xml.StartElement) (bool, any, error) {
			return false, nil, d.Skip()
		},
		Negotiate: func(_ context.Context, s *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
			resume := "<resume xmlns='" + nsSM + "'" + string(xmlesc.Attr(nil, "previd", id)) + " h='" + strconv.FormatUint(uint64(in), 10) + "'/>"
			if _, err := io.WriteString(s.Conn(), resume); err != nil {
				return 0, nil, err
			}
			r := s.TokenReader()
			defer r.Close()
			d := xml.NewTokenDecoder(r)
			var ans struct {
				XMLName xml.Name
				H       string `xml:"h,attr"`
			}
			for {
				tok, err := d.Token()
				if err != nil {
					return 0, nil, err
				}
				if start, ok := tok.(xml.StartElement); ok {
					if err := d.DecodeElement(&ans, &start); err != nil {
						return 0, nil, err
					}
					break
				}
			}
			if ans.XMLName != (xml.Name{Space: nsSM, Local: "resumed"}) {
				return 0, nil, errResumeFailed
			}
			v, err := strconv.ParseUint(ans.H, 10, 32)
			if err != nil {
				return 0, nil, fmt.Errorf("resumed with h=%q", ans.H)
			}
			*h, *resumed = uint32(v), true
			return xmpp.Ready, nil, nil
		},
	}
}

// start makes a new link current and reads it. st.mu is held.
func (st *smState) start(sess *xmpp.Session, conn net.Conn) *smLink {
	if st.wait == nil {
		st.wait = map[string]chan error{}
	}
	l := &smLink{conn: conn, sess: sess, done: make(chan struct{})}
	st.link = l
	go st.read(l)
	return l
}

// inElement is what the device needs of an element from the hub.
type inElement struct {
	XMLName xml.Name
	ID      string    `xml:"id,attr"`
	Type    string    `xml:"type,attr"`
	From    string    `xml:"from,attr"`
	H       string    `xml:"h,attr"`
	Ping    *struct{} `xml:"urn:xmpp:ping ping"`
	Error   *struct {
		Conds []struct{ XMLName xml.Name } `xml:",any"`
		Text  string                       `xml:"text"`
	} `xml:"error"`
}

// read handles what the hub sends on l until the link ends.
func (st *smState) read(l *smLink) {
	defer func() {
		st.mu.Lock()
		if st.link == l {
			st.link = nil
			for k, ch := range st.wait {
				ch <- &Failure{Kind: "stream", Err: errors.New("link lost")}
				delete(st.wait, k)
			}
		}
		st.mu.Unlock()
		l.conn.Close()
		close(l.done)
	}()
	r := l.sess.TokenReader()
	defer r.Close()
	d := xml.NewTokenDecoder(r)
	for {
		tok, err := d.Token()
		if err != nil {
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		var el inElement
		if err := d.DecodeElement(&el, &start); err != nil {
			return
		}
		if !st.handle(l, &el, start) {
			return
		}
	}
}

// handle takes one element; false ends the link.
func (st *smState) handle(l *smLink, el *inElement, start xml.StartElement) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.link != l {
		return false
	}
	switch el.XMLName.Local {
	case "message", "presence", "iq":
		if st.counting {
			st.in++
		}
	}
	switch el.XMLName.Local {
	case "iq":
		switch {
		case el.Type == "get" && el.Ping != nil:
			st.sendLocked("<iq type='result'" + string(xmlesc.Attr(nil, "id", el.ID)) + string(xmlesc.Attr(nil, "to", el.From)) + "/>")
		case el.Type == "result" || el.Type == "error":
			if ch := st.wait[el.ID]; ch != nil {
				delete(st.wait, el.ID)
				ch <- iqOutcome(el)
			}
		}
	case "enabled":
		st.counting = true
		for _, a := range start.Attr {
			if a.Name.Local == "id" {
				st.id = a.Value
			}
		}
		if ch := st.wait["enabled"]; ch != nil {
			delete(st.wait, "enabled")
			ch <- nil
		}
	case "failed":
		if ch := st.wait["enabled"]; ch != nil {
			delete(st.wait, "enabled")
			ch <- errors.New("the hub refused stream management")
		}
	case "r":
		io.WriteString(l.conn, "<a xmlns='"+nsSM+"' h='"+strconv.FormatUint(uint64(st.in), 10)+"'/>")
	case "a":
		if h, err := strconv.ParseUint(el.H, 10, 32); err == nil {
			st.ackTo(uint32(h))
		}
	case "error": // a stream error
		return false
	}
	return true
}

func iqOutcome(el *inElement) error {
	if el.Type == "result" {
		return nil
	}
	r := &Refusal{}
	if el.Error != nil {
		r.Text = el.Error.Text
		for _, c := range el.Error.Conds {
			if c.XMLName.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.XMLName.Local != "text" {
				r.Condition = c.XMLName.Local
				break
			}
		}
	}
	return r
}

// ackTo drops what the hub's h acknowledges. st.mu is held.
func (st *smState) ackTo(h uint32) {
	n := int(h - st.acked)
	if n < 0 || n > len(st.out) {
		n = len(st.out) // the hub counts more than was sent: trust it
	}
	st.out, st.acked = st.out[n:], h
}

// sendLocked writes a stanza on the current link, if any, and keeps it
// until acknowledged. st.mu is held.
func (st *smState) sendLocked(s string) {
	if st.counting {
		st.out = append(st.out, s)
	}
	if st.link != nil {
		st.link.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(st.link.conn, s)
	}
}

// publish sends an item and waits for the hub's answer.
func (st *smState) publish(ctx context.Context, hub Hub, service jid.JID, node, id string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, hub.timeout())
	defer cancel()
	st.mu.Lock()
	l := st.link
	if l == nil {
		st.mu.Unlock()
		return &Failure{Kind: "stream", Err: errors.New("not connected")}
	}
	st.nextID++
	iqID := "p" + strconv.FormatUint(st.nextID, 10)
	ch := make(chan error, 1)
	st.wait[iqID] = ch
	var b bytes.Buffer
	b.WriteString("<iq type='set'")
	b.Write(xmlesc.Attr(nil, "id", iqID))
	if !service.Equal(jid.JID{}) {
		b.Write(xmlesc.Attr(nil, "to", service.String()))
	}
	b.WriteString("><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish")
	b.Write(xmlesc.Attr(nil, "node", node))
	b.WriteString("><item")
	b.Write(xmlesc.Attr(nil, "id", id))
	b.WriteString(">")
	b.Write(payload)
	b.WriteString("</item></publish></pubsub></iq>")
	st.sendLocked(b.String())
	st.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-l.done:
		return &Failure{Kind: "stream", Err: errors.New("link lost")}
	case <-ctx.Done():
		st.mu.Lock()
		delete(st.wait, iqID)
		st.mu.Unlock()
		return &Failure{Kind: "timeout", Err: ctx.Err()}
	}
}

// drop ends the current link as a lost network would; close ends the
// stream politely, after which nothing is resumed.
func (st *smState) drop() {
	st.mu.Lock()
	l := st.link
	st.mu.Unlock()
	if l != nil {
		l.conn.Close()
	}
}

func (st *smState) close() {
	st.mu.Lock()
	l := st.link
	tail := "</stream:stream>"
	if st.counting {
		tail = "<a xmlns='" + nsSM + "' h='" + strconv.FormatUint(uint64(st.in), 10) + "'/>" + tail
	}
	st.id = ""
	st.mu.Unlock()
	if l != nil {
		io.WriteString(l.conn, tail)
		l.conn.Close()
	}
}
