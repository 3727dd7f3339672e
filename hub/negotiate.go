package hub

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/internal/scram"
	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"
)

// negotiation is one connection from accept to bound resource. mellium does
// the work (stream headers, STARTTLS, SASL, bind); this keeps what the hub
// must know for itself, because mellium either does not keep it or keeps the
// wrong thing (the client's claimed stream from).
type negotiation struct {
	srv        *Server
	ip         netip.Addr
	conn       *negConn // the current layer: plain TCP, then TLS
	headerSent bool     // our header for the current stream went out
	answered   bool     // the peer has been told why negotiation ended
	saslErr    bool     // SASL negotiation ended in an error
	authing    bool     // a SASL exchange is counted in flight (saslmech.go)
	user       string   // the account SASL authenticated
	bound      jid.JID
	ss         *session // registered at bind, held until negotiation ends
	resumed    bool     // ss was resumed (sm_resume.go), not bound
	deadline   time.Time

	directTLS bool // XEP-0368: TLS before the stream
	slot      bool // the accept loop took the connection's slot (limiter.take)
	// overHTTP: WebSocket (RFC 7395) or BOSH (XEP-0206) through the HTTP
	// listener. STARTTLS is never offered; secure says the HTTP layer has
	// TLS, plainOK that SASL may run without it.
	overHTTP, secure, plainOK bool
}

// serve negotiates raw as n says and hands it to a session, for any
// transport. It runs on the connection's own goroutine; the session's read
// loop gets a fresh goroutine so that the stack grown during TLS and SASL is
// freed.
func (s *Server) serve(raw net.Conn, n *negotiation) {
	if !n.slot && !s.limiter.take() {
		s.refuseOverCap(raw, n)
		return
	}
	ip := remoteIP(raw)
	if err := s.limiter.admit(ip); err != nil {
		s.limiter.give()
		s.stats.refused.Add(1)
		raw.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(raw, streamHeader(s.domain)+streamError("policy-violation", err.Error()))
		lingerClose(raw)
		if n, ok := s.refusedLog.due(time.Now()); ok {
			s.log.Info("connection refused", "ip", ip, "reason", err, "refused_since_last_logged", n)
		}
		return
	}
	if !s.track(raw, true) {
		raw.Close()
		s.limiter.release(ip)
		return
	}
	n.ip = ip
	err := n.run(raw)
	n.endAuth()
	s.track(raw, false)
	if err != nil {
		n.answer(err)
		if n.ss != nil {
			n.ss.teardown()
		} else {
			lingerClose(n.conn.Conn)
			s.limiter.release(ip)
		}
		if !quietError(err) {
			s.log.Info("negotiation failed", "ip", ip, "user", n.user, "err", err)
		}
		return
	}
	n.ss.start(n.conn.buffered())
}

// run negotiates the stream up to a bound, registered session.
func (n *negotiation) run(raw net.Conn) (err error) {
	s := n.srv
	// The deadline is set on the connection, not given to mellium as a
	// context deadline: mellium enforces that by setting a deadline in the
	// past and clearing it at once, which a blocked read can miss.
	n.deadline = time.Now().Add(s.cfg.Limits.NegotiationTimeout)
	raw.SetDeadline(n.deadline)
	n.conn = newNegConn(raw, s.cfg.Limits.MaxStanzaSize, !n.overHTTP)
	var state xmpp.SessionState
	if n.overHTTP && n.secure {
		state = xmpp.Secure
	}
	if n.directTLS {
		tc := tls.Server(raw, s.directTLS)
		if err := tc.Handshake(); err != nil {
			n.answered = true
			return fmt.Errorf("TLS handshake: %w", err)
		}
		n.conn = newNegConn(tc, s.cfg.Limits.MaxStanzaSize, true)
		state = xmpp.Secure
	}
	// Nor is this context ever cancelled: mellium watches it from a
	// goroutine and, when it ends, sets the connection's deadline in the
	// past, at a moment of its own. Cancelled as negotiation returns, that
	// raced the stream error written next and sometimes destroyed it.
	ctx := context.Background()
	defer func() {
		// sasl panics on some inputs (mellium trap 4); one connection's
		// panic must not take the hub down.
		if r := recover(); r != nil {
			err = fmt.Errorf("negotiation panic: %v", r)
		}
	}()
	if _, err = xmpp.ReceiveSession(ctx, n.conn, state, xmpp.NewNegotiator(n.streamConfig)); err != nil && !n.resumed {
		return err
	}
	// Trap 2: mellium reports success even when binding failed, so the hub
	// trusts only the session it bound itself, for the user SASL
	// authenticated.
	if n.ss == nil || n.user == "" || n.bound.Localpart() != n.user {
		return errNotBound
	}
	n.conn.SetDeadline(time.Time{})
	return nil
}

var errNotBound = errors.New("stream negotiated without a bound resource")

// streamConfig is called by mellium after each stream header exchange with
// the features to offer on that stream.
func (n *negotiation) streamConfig(sess *xmpp.Session, _ *xmpp.StreamConfig) xmpp.StreamConfig {
	if sess == nil {
		// The first stream header is written with this configuration.
		return xmpp.StreamConfig{Lang: streamLang}
	}
	n.headerSent = true
	s := n.srv
	in := sess.In()
	switch {
	case in.XMLNS != stanza.NSClient:
		n.abort("invalid-namespace", "this port serves jabber:client streams")
		return xmpp.StreamConfig{}
	case in.To.String() != s.domain:
		n.abort("host-unknown", "this server serves "+s.domain)
		return xmpp.StreamConfig{}
	}
	secure := sess.State()&xmpp.Secure != 0
	var features []xmpp.StreamFeature
	switch {
	case n.overHTTP && !secure && !n.plainOK:
		n.abort("policy-violation", "XMPP over plain HTTP (ws://, http://) is served to loopback clients only; use wss:// or https://")
		return xmpp.StreamConfig{}
	case !secure && s.cfg.TLS != nil && !n.overHTTP:
		features = append(features, n.startTLS())
	}
	features = append(features, n.saslFeature(secure))
	features = append(features, n.bindFeature(), sessionFeature, rosterVerFeature, n.smFeature(), csiFeature)
	return xmpp.StreamConfig{Lang: streamLang, Features: features}
}

// abort ends the stream with a stream error from inside mellium's
// negotiation; mellium then fails on the closed connection.
func (n *negotiation) abort(cond, text string) {
	n.answered = true
	n.conn.SetWriteDeadline(time.Now().Add(time.Second))
	io.WriteString(n.conn, streamError(cond, text))
	n.conn.Close()
}

func (n *negotiation) startTLS() xmpp.StreamFeature {
	f := xmpp.StartTLS(n.srv.cfg.TLS)
	if n.srv.cfg.AllowPlain {
		f.List = func(_ context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			if err := e.EncodeToken(start); err != nil {
				return false, err
			}
			return false, e.EncodeToken(start.End())
		}
	}
	inner := f.Negotiate
	f.Negotiate = func(ctx context.Context, sess *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		// mellium answers <proceed/> and wraps the negotiation reader in
		// TLS; the hub puts TLS straight on the socket instead, so that no
		// negotiation-time wrapper stays under the session for its life.
		mask, rw, err := inner(ctx, sess, data)
		if err != nil || rw == nil {
			return mask, rw, err
		}
		// <starttls></starttls> is the same element as <starttls/>
		// (loudmouth sends the former); whitespace after it is allowed
		// (go-xmpp sends a newline). Anything else sent before the TLS
		// handshake could be injected by a man in the middle and be
		// taken as sent over TLS, so it ends the stream.
		if err := n.conn.finishElement(maxStartTLSTail); err != nil {
			return mask, nil, err
		}
		if len(n.conn.buffered()) > 0 {
			return mask, nil, errors.New("data sent after <starttls/> before <proceed/>")
		}
		tc := tls.Server(&spaceSkipper{Conn: n.conn.Conn}, n.srv.cfg.TLS)
		if err := tc.Handshake(); err != nil {
			n.answered = true
			return mask, nil, fmt.Errorf("TLS handshake: %w", err)
		}
		// Keep the byte-at-a-time reader on top of TLS too (see negConn).
		n.conn = newNegConn(tc, n.srv.cfg.Limits.MaxStanzaSize, true)
		n.headerSent = false
		return mask, n.conn, nil
	}
	return f
}

// maxStartTLSTail bounds what may follow <starttls> to end it:
// "</starttls>" with a prefix and some whitespace.
const maxStartTLSTail = 64

// saslFeature offers SCRAM-SHA-256 and SCRAM-SHA-1 always and PLAIN only on a
// secure stream. *-PLUS variants are never offered: a client asking for one
// gets invalid-mechanism from mellium before sasl can panic (trap 4).
func (n *negotiation) saslFeature(secure bool) xmpp.StreamFeature {
	mechs := []sasl.Mechanism{
		n.limited(scram.ServerMechanism(scram.SHA256, n.lookup, n.result, n.srv.accounts.Iterations())),
		n.limited(scram.ServerMechanism(scram.SHA1, n.lookup, n.result, n.srv.accounts.Iterations())),
	}
	if secure {
		mechs = append(mechs, n.limited(n.plain()))
	}
	// The mechanisms check credentials themselves; nothing asks permission.
	f := xmpp.SASLServer(func(*sasl.Negotiator) bool { return false }, mechs...)
	if n.srv.cfg.AllowPlain || n.plainOK {
		f.Necessary = 0
	}
	inner := f.Negotiate
	f.Negotiate = func(ctx context.Context, sess *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		// mellium ends the negotiation at the first failure; RFC 6120
		// §6.4.5 has the server allow retries (a mistyped password, a
		// client falling back to another mechanism), so the exchange is
		// run again on the same stream, up to maxSASLAttempts.
		for attempt := 1; ; attempt++ {
			mask, rw, err := inner(ctx, sess, data)
			if err == nil {
				n.headerSent = false
				return mask, rw, nil
			}
			retry := saslFailureSent(err)
			if cond := saslCondition(err); !retry && cond != "" {
				n.conn.SetWriteDeadline(time.Now().Add(time.Second))
				_, werr := io.WriteString(n.conn, `<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><`+cond+`/></failure>`)
				retry = werr == nil
			}
			if !retry || attempt >= maxSASLAttempts {
				n.saslErr = retry // the client has its failure; only the stream end is left
				return mask, rw, err
			}
		}
	}
	return f
}

// maxSASLAttempts is the initial attempt and the two retries RFC 6120
// §6.4.5 asks for at least.
const maxSASLAttempts = 3

// saslFailureSent reports errors for which mellium has already sent the
// client a SASL failure: a wrong password, a mechanism not offered, an abort
// or a misplaced element. The last three are unexported in mellium v0.22.0,
// so they are recognized by their text.
func saslFailureSent(err error) bool {
	if errors.Is(err, sasl.ErrAuthn) {
		return true
	}
	switch err.Error() {
	case "xmpp: no matching SASL mechanisms found",
		"xmpp: the remote entity terminated authentication",
		"xmpp: unexpected payload encountered during auth":
		return true
	}
	return false
}

// malformedSASL reports a SASL message that could not be parsed, which
// mellium answers with nothing.
func malformedSASL(err error) bool {
	var b64Err base64.CorruptInputError
	return errors.Is(err, scram.ErrMalformed) || errors.As(err, &b64Err)
}

// lookup finds SCRAM credentials (trap 3: the hub hands them to its own
// mechanism instead of relying on SASLServer, which never passes them on).
func (n *negotiation) lookup(user string) (scram.Credential, bool) {
	name, err := devices.NormalizeName(user)
	if err != nil || n.srv.limiter.lockedOut(n.ip) {
		return scram.Credential{}, false
	}
	return n.srv.accounts.Credential(name)
}

// result judges an authentication attempt whose proof has been checked: it
// is refused while the address is locked out, and a refusal is answered
// only after a delay that grows with the failures from the address.
func (n *negotiation) result(user string, right bool) bool {
	ok, checked, delay := n.srv.limiter.judge(n.ip, right)
	if ok {
		n.user, _ = devices.NormalizeName(user)
		return true
	}
	if checked {
		n.srv.stats.authFailures.Add(1)
		n.srv.log.Info("authentication failed", "ip", n.ip, "user", user)
	} else {
		n.srv.stats.authRefused.Add(1)
		n.srv.log.Info("authentication refused: locked out", "ip", n.ip, "user", user)
	}
	time.Sleep(delay)
	return false
}

// bindFeature binds a resource for the authenticated user, whatever the
// client claimed in its stream header (trap 1). An empty or invalid resource
// gets a generated one (trap 6), and so does RemoteResource. The session is registered before the client
// learns its JID, so nothing sent to that JID afterwards is misrouted; what
// arrives for it waits in its outbox until negotiation is over.
func (n *negotiation) bindFeature() xmpp.StreamFeature {
	return xmpp.BindCustom(func(_ jid.JID, res string) (jid.JID, error) {
		if n.user == "" {
			return jid.JID{}, errNotBound
		}
		j, err := jid.New(n.user, n.srv.domain, res)
		if res == "" || err != nil || j.Resourcepart() == RemoteResource {
			// RemoteResource is the MQTT bridge's: a session bound to it
			// would be mistaken for the remote one, and the other way round.
			j, err = jid.New(n.user, n.srv.domain, randomResource())
		}
		if err != nil {
			return jid.JID{}, err
		}
		if n.ss != nil {
			return jid.JID{}, errors.New("bind requested twice")
		}
		if n.ss = n.srv.newSession(n.conn.Conn, n.ip, j); n.ss == nil {
			return jid.JID{}, errors.New("the hub is shutting down")
		}
		n.bound = j
		if hc, ok := n.conn.Conn.(interface{ bound(limit int) }); ok {
			// WebSocket and BOSH: before the client hears of the bind
			// and sends stanzas.
			hc.bound(n.srv.cfg.Limits.MaxStanzaSize)
		}
		return j, nil
	})
}

func randomResource() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "gh-" + hex.EncodeToString(b)
}

// informational features: listed, never negotiated during negotiation.
func listOnly(space, local string, children ...string) xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:      xml.Name{Space: space, Local: local},
		Necessary: xmpp.Authn,
		List: func(_ context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			if err := e.EncodeToken(start); err != nil {
				return false, err
			}
			for _, c := range children {
				child := xml.StartElement{Name: xml.Name{Local: c}}
				if err := e.EncodeToken(child); err != nil {
					return false, err
				}
				if err := e.EncodeToken(child.End()); err != nil {
					return false, err
				}
			}
			return false, e.EncodeToken(start.End())
		},
	}
}

var (
	// Legacy session establishment (RFC 3921 §3), optional as in
	// draft-cridland-xmpp-session-01; the request is answered after binding.
	sessionFeature   = listOnly(nsSession, "session", "optional")
	rosterVerFeature = listOnly("urn:xmpp:features:rosterver", "ver")
)

// answer tells the peer why negotiation failed, unless it has been told.
func (n *negotiation) answer(err error) {
	if n.answered || quietError(err) && !isTimeout(err) {
		return
	}
	n.conn.SetWriteDeadline(time.Now().Add(time.Second))
	var out string
	if !n.headerSent {
		out = streamHeader(n.srv.domain)
	}
	var synErr *xml.SyntaxError
	var strErr stream.Error
	switch {
	case n.saslErr:
		// The client has its SASL failure and used up its retries.
		out += `</stream:stream>`
	case isTimeout(err):
		out += streamError("connection-timeout", "negotiation took too long")
	case errors.Is(err, errNegotiationTooLong):
		out += streamError("policy-violation", err.Error())
	case errors.Is(err, errNotXML):
		out += streamError("not-well-formed", err.Error())
	case errors.As(err, &synErr):
		out += streamError("not-well-formed", synErr.Msg)
	case errors.As(err, &strErr):
		out += streamError(strErr.Err, err.Error())
	case errors.Is(err, errNotBound):
		out += streamError("not-authorized", "resource binding failed")
	default:
		out += streamError("undefined-condition", "")
	}
	io.WriteString(n.conn, out)
}

// quietError reports errors that mean the peer went away: nothing to answer
// and nothing worth logging.
func quietError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || isTimeout(err) || isReset(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
