package hub

import (
	"bytes"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/geohub/geohub/hub/internal/s2s"
	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"mellium.im/xmpp/jid"
)

// Federation (hub/internal/s2s): stanzas to other domains leave over
// server-to-server streams, stamped with the sender's full JID as a
// client's are; stanzas from other servers enter the router as if a client
// had sent them, through a sender that stands for the remote JID
// (remoteSender): the same rules apply (blocking, offline storage, PEP
// access, the hub's JID), and answers go back over the federation. A
// remote JID without an account here has no localpart: no roster, no
// blocklist and no rights. One made a remote account (devices.IsRemote,
// geohub device add alice@example.com --role operator) acts as that
// account: chat commands, alerts. Only disco, ping and version are
// answered on the domain for remote JIDs.

// FederationConfig turns on federation.
type FederationConfig struct {
	// Listen is the address other servers connect to with STARTTLS;
	// ListenTLS, the one they connect to with TLS from the first byte
	// (XEP-0368). Both empty make the hub connect out only (peers that
	// offer XEP-0288 answer over those).
	Listen, ListenTLS string
	// Roots verifies peers' certificates; nil means the system's.
	Roots *x509.CertPool
	// Hosts maps a domain to host:port, bypassing DNS.
	Hosts map[string]string
	// Allow, when not empty, is the only domains federated with; Deny is
	// refused.
	Allow, Deny []string
	IdleTimeout time.Duration
	// Dialback allows server dialback (XEP-0220) with peers whose
	// certificate does not verify (self-signed).
	Dialback bool
}

// federation is the hub's side of the s2s service.
type federation struct {
	s     *Server
	svc   *s2s.Service
	ln    net.Listener // STARTTLS
	tlsLn net.Listener // direct TLS
}

// maxSenders bounds the remote senders kept; past it they are forgotten
// and made again.
const maxSenders = 4096

func (s *Server) startFederation() error {
	fc := s.cfg.Federation
	if fc == nil {
		return nil
	}
	if s.cfg.TLS == nil {
		return errors.New("hub: federation needs a certificate")
	}
	if s.cfg.Upstream != nil {
		return errors.New("hub: a component does not federate: its upstream server does")
	}
	f := &federation{s: s}
	lim := s.cfg.Limits
	svc, err := s2s.New(s2s.Config{
		Domain: s.domain, Local: []string{s.pubsub.Host()},
		TLS: s.cfg.TLS, Roots: fc.Roots, Hosts: fc.Hosts,
		Allow: fc.Allow, Deny: fc.Deny, IdleTimeout: fc.IdleTimeout, Dialback: fc.Dialback,
		ConnectTimeout: lim.NegotiationTimeout, MaxPending: lim.MaxPending,
		Limits: wire.Limits{MaxSize: lim.MaxStanzaSize, MaxDepth: lim.MaxDepth},
		Admit: func(c net.Conn) (func(), error) {
			if !s.limiter.take() {
				return nil, errors.New("the hub is at its connection cap")
			}
			ip := remoteIP(c)
			if err := s.limiter.admit(ip); err != nil {
				s.limiter.give()
				return nil, err
			}
			return func() { s.limiter.release(ip) }, nil
		},
		Pace: func() func(time.Time, int, int, int) time.Duration {
			sh := newShaper(lim)
			return sh.delay
		},
		Logger: s.log,
	}, f)
	if err != nil {
		return err
	}
	f.svc = svc
	for _, l := range []struct {
		addr  string
		ln    *net.Listener
		serve func(net.Listener) error
		what  string
	}{{fc.Listen, &f.ln, svc.Serve, "STARTTLS"}, {fc.ListenTLS, &f.tlsLn, svc.ServeDirectTLS, "direct TLS"}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			svc.Close()
			return err
		}
		*l.ln = ln
		go l.serve(ln)
		s.log.Info("listening for servers", "addr", ln.Addr().String(), "tls", l.what)
	}
	s.fed = f
	return nil
}

// FederationAddr is the address of the s2s listener (STARTTLS), for
// tests; empty without one.
func (s *Server) FederationAddr() string {
	if s.fed == nil || s.fed.ln == nil {
		return ""
	}
	return s.fed.ln.Addr().String()
}

// FederationTLSAddr is the address of the direct TLS s2s listener
// (XEP-0368), for tests; empty without one.
func (s *Server) FederationTLSAddr() string {
	if s.fed == nil || s.fed.tlsLn == nil {
		return ""
	}
	return s.fed.tlsLn.Addr().String()
}

func (f *federation) close() { f.svc.Close() }

// remote reports whether a JID is at a domain this hub federates with.
func (f *federation) remote(j string) bool {
	_, domain, ok := strings.Cut(j, "@")
	if !ok {
		domain = j
	}
	domain, _, _ = strings.Cut(domain, "/")
	return f.svc.Allowed(domain)
}

// send forwards a stanza of a local session to another domain, with its
// from stamped.
func (f *federation) send(ss *session, el *wire.Element, to addr) {
	f.svc.Send(string(to.domain), serverStanza(wire.AppendStamped(nil, el, ss.fromAttr)))
}

// serverStanza drops a jabber:client namespace a client wrote on a stanza:
// a peer's stream only takes jabber:server stanzas.
func serverStanza(b []byte) []byte {
	end := bytes.IndexByte(b, '>')
	for _, ns := range []string{" xmlns='jabber:client'", ` xmlns="jabber:client"`} {
		if i := bytes.Index(b[:end], []byte(ns)); i >= 0 {
			return append(b[:i], b[i+len(ns):]...)
		}
	}
	return b
}

// presenceTo sends presence el from fromAttr to the remote JID to.
func (f *federation) presenceTo(to string, el *wire.Element, fromAttr []byte) {
	_, domain, _ := strings.Cut(to, "@")
	domain, _, _ = strings.Cut(domain, "/")
	f.svc.Send(domain, serverStanza(wire.AppendAddressed(nil, el, fromAttr, xmlesc.Attr(nil, "to", to))))
}

// subscriptionOut sends a subscription stanza of the account local to the
// remote bare JID contact (fwd, or a plain one when nil); approving one
// sends local's presence too (RFC 6121 §3.1.5).
func (f *federation) subscriptionOut(local, contact, typ string, fwd []byte) {
	s := f.s
	if fwd == nil {
		fwd = subscriptionStanza(typ, s.accounts.JID(local), contact)
	}
	_, domain, _ := strings.Cut(contact, "@")
	f.svc.Send(domain, serverStanza(fwd))
	if typ != "subscribed" {
		return
	}
	for _, src := range s.router.sessions(local) {
		src.pmu.Lock()
		if src.presence != nil {
			f.presenceTo(contact, &src.presEl, src.fromAttr)
		}
		src.pmu.Unlock()
	}
}

// sendProbe asks the server of the remote contact for its presence, on
// behalf of the bare JID from.
func (f *federation) sendProbe(from, contact string) {
	_, domain, _ := strings.Cut(contact, "@")
	f.svc.Send(domain, subscriptionStanza("probe", from, contact))
}

// probe answers a remote JID's presence probe (RFC 6121 §4.3.2) for a
// local account it may see (a remote account of its groups, or a contact
// the account approved): with the presence of each of its available
// resources.
func (f *federation) probe(ss *session, to addr) {
	s := f.s
	local := string(to.local)
	if to.kind != addrBare || !s.accounts.Exists(local) {
		return
	}
	s.rosters.mu.Lock()
	it := s.rosters.get(local).items[ss.bare]
	approved := it != nil && it.Sub.hasFrom()
	s.rosters.mu.Unlock()
	if !approved && (ss.local == "" || !s.rosters.maySee(ss.local, local)) {
		return
	}
	for _, src := range s.router.sessions(local) {
		src.pmu.Lock()
		if src.presence != nil {
			f.presenceTo(ss.bare, &src.presEl, src.fromAttr)
		}
		src.pmu.Unlock()
	}
}

// sendRaw sends a stanza the hub built (from its domain or JID) to
// another domain.
func (f *federation) sendRaw(domain string, stanza []byte) { f.svc.Send(domain, stanza) }

// Stream routes the stanzas of one stream from peer (s2s.Handler); the
// stream checked their from and to domains. Each stream keeps its own
// senders, used by its read goroutine alone.
func (f *federation) Stream(peer string) func(*wire.Element) {
	senders := map[string]*session{}
	return func(el *wire.Element) { f.stanza(peer, senders, el) }
}

func (f *federation) stanza(peer string, senders map[string]*session, el *wire.Element) {
	s := f.s
	s.stats.in.Add(1)
	ss := f.sender(senders, el, peer)
	if ss == nil {
		return
	}
	switch el.Kind {
	case wire.KindMessage:
		s.routeMessage(ss, el)
	case wire.KindIQ:
		f.iq(ss, el)
	case wire.KindPresence:
		f.presence(ss, el)
	}
}

// remoteServerIQs are what the domain answers for a remote JID.
var remoteServerIQs = map[xml.Name]bool{
	{Space: nsDiscoInfo, Local: "query"}:  true,
	{Space: nsDiscoItems, Local: "query"}: true,
	{Space: nsPing, Local: "ping"}:        true,
	{Space: nsVersion, Local: "query"}:    true,
}

func (f *federation) iq(ss *session, el *wire.Element) {
	s := f.s
	typ := string(el.Value(el.Type))
	if (typ == "result" || typ == "error") && f.capsAnswer(ss, el) {
		return
	}
	if typ == "get" || typ == "set" {
		to, err := s.parseAddr(el.Value(el.To), &ss.scratch)
		if err == nil && (to.kind == addrServer || to.kind == addrNone) {
			_, payload, err := decodeIQ(el)
			if err != nil || !remoteServerIQs[name(payload)] {
				ss.send(errorReply(ss, el, errServiceUnavailable))
				return
			}
		}
	}
	s.routeIQ(ss, el)
}

// presence from a remote JID: directed presence is delivered as a local
// client's; a subscription request or answer lands on the local
// account's roster side.
func (f *federation) presence(ss *session, el *wire.Element) {
	s := f.s
	typ := string(el.Value(el.Type))
	to, err := s.parseAddr(el.Value(el.To), &ss.scratch)
	if err != nil {
		s.replyError(ss, el, errJIDMalformed)
		return
	}
	if s.presenceBlocked(ss, el, to, typ) {
		return // the local account blocks the sender: dropped (XEP-0191 §3.3)
	}
	switch typ {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		if to.kind != addrBare || !s.accounts.Exists(string(to.local)) {
			return
		}
		r := s.rosters
		r.mu.Lock()
		r.inbound(string(to.local), ss.bare, typ, wire.AppendStamped(nil, el, ss.bareFromAttr))
		r.unlock()
	case "probe":
		f.probe(ss, to)
	default:
		if (to.kind == addrBare || to.kind == addrFull) && (typ == "" || typ == "unavailable") && s.accounts.Exists(string(to.local)) {
			f.notePresence(ss, el, string(to.local), typ == "") // remotepep.go
		}
		s.directed(ss, el, to, typ)
	}
}

// sender returns the session that stands for the stanza's remote sender,
// acting as its remote account if it has one now.
func (f *federation) sender(senders map[string]*session, el *wire.Element, peer string) *session {
	v, err := xmlnode.AppendUnescaped(nil, el.Value(el.From))
	if err != nil {
		return nil
	}
	j, err := jid.Parse(string(v))
	if err != nil || j.Domainpart() != peer {
		return nil
	}
	full := j.String()
	ss := senders[full]
	if ss == nil {
		if len(senders) >= maxSenders {
			clear(senders)
		}
		ss = f.s.remoteSender(j, &remoteConn{f: f, domain: peer})
		senders[full] = ss
	}
	// A remote account (devices.IsRemote) acts with the role and groups
	// it has here, as a local account's session does; checked at each
	// stanza, so that removing the account takes them away at once.
	ss.local = ""
	if f.s.accounts.Exists(ss.bare) {
		ss.local = ss.bare
	}
	return ss
}

// Bounce answers stanzas a local session sent that could not reach
// domain (s2s.Handler).
func (f *federation) Bounce(domain string, stanzas []byte, cond, text string) {
	s := f.s
	e := stanzaErr{"cancel", cond, text}
	if cond == s2s.CondTimeout {
		e.typ = "wait"
	}
	sc := wire.NewScanner(wire.Limits{}, "jabber:server")
	var scratch []byte
	for len(stanzas) > 0 {
		el, n, err := sc.Next(stanzas)
		if err != nil || n == 0 {
			return
		}
		stanzas = stanzas[n:]
		if el == nil {
			continue
		}
		from, err := s.parseAddr(el.Value(el.From), &scratch)
		if err != nil || from.kind != addrFull {
			continue
		}
		if ss := s.router.find(from.local, from.resource); ss != nil {
			s.replyError(ss, el, e)
		}
	}
}

// remoteSender makes the session that stands for remote JID j: not
// routed to, with no account, writing what it is sent to conn.
func (s *Server) remoteSender(j jid.JID, conn net.Conn) *session {
	ss := &session{
		srv: s, conn: conn, jid: j, resource: j.Resourcepart(),
		full: j.String(), bare: j.Bare().String(), shaper: s.newSessionShaper(),
	}
	ss.fromAttr = xmlesc.Attr(nil, "from", ss.full)
	ss.bareFromAttr = xmlesc.Attr(nil, "from", ss.bare)
	ss.toAttr = xmlesc.Attr(nil, "to", ss.full)
	ss.pres.Store(presenceBias) // answers are always deliverable
	return ss
}

// isRemote reports whether ss stands for a remote JID (it has no archive
// or resources here).
func (ss *session) isRemote() bool {
	_, ok := ss.conn.(*remoteConn)
	return ok
}

// remoteConn is a remote sender's connection: what the hub writes to it
// goes over the federation to its domain.
type remoteConn struct {
	f      *federation
	domain string
}

func (c *remoteConn) Write(b []byte) (int, error) {
	c.f.sendRaw(c.domain, bytes.Clone(b))
	return len(b), nil
}
func (c *remoteConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (c *remoteConn) Close() error                     { return nil }
func (c *remoteConn) LocalAddr() net.Addr              { return remoteAddr{} }
func (c *remoteConn) RemoteAddr() net.Addr             { return remoteAddr{} }
func (c *remoteConn) SetDeadline(time.Time) error      { return nil }
func (c *remoteConn) SetReadDeadline(time.Time) error  { return nil }
func (c *remoteConn) SetWriteDeadline(time.Time) error { return nil }

type remoteAddr struct{}

func (remoteAddr) Network() string { return "s2s" }
func (remoteAddr) String() string  { return "s2s" }
