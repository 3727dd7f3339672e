package s2s

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"time"
)

// accept negotiates a stream another server opened (RFC 6120 §5, §6;
// XEP-0178; XEP-0288; XEP-0368 when directTLS) and then reads its
// stanzas. TLS is required, from the first byte or by STARTTLS; the peer
// authenticates with SASL EXTERNAL, which is offered only when its
// certificate is valid for the domain it claims.
func (s *Service) accept(raw net.Conn, directTLS bool) {
	raw.SetDeadline(time.Now().Add(s.cfg.ConnectTimeout))
	var conn net.Conn = raw
	if directTLS {
		tc := tls.Server(raw, s.serverTLS(true))
		if err := tc.Handshake(); err != nil {
			s.log.Info("incoming stream refused", "addr", raw.RemoteAddr(), "err", err)
			raw.Close()
			return
		}
		conn = tc
	}
	st := newStream(conn)
	l, err := s.receive(st, raw, &conn, directTLS)
	if err != nil {
		var se streamError
		if errors.As(err, &se) {
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			conn.Write([]byte(se.xml()))
		}
		if errors.Is(err, errPeerClosed) {
			s.log.Debug("incoming stream ended during negotiation", "addr", raw.RemoteAddr())
		} else {
			s.log.Info("incoming stream refused", "addr", raw.RemoteAddr(), "err", err)
		}
		conn.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	l.run()
}

func (s *Service) receive(st *stream, raw net.Conn, conn *net.Conn, secure bool) (*link, error) {
	bidi := false
	peer := ""
	for step := 0; ; step++ {
		if step > 3 {
			return nil, streamError{"policy-violation", "too many stream restarts"}
		}
		st.restart(*conn)
		from, to, err := st.header()
		if err != nil {
			return nil, err
		}
		// The header is answered before any error, which needs a stream.
		st.ownID = streamID()
		if err := st.write(header(to, from, st.ownID)); err != nil {
			return nil, err
		}
		if !s.local(to) {
			return nil, streamError{"host-unknown", "this server does not serve " + to}
		}
		if peer != "" && from != peer {
			return nil, streamError{"invalid-from", "the stream changed its from"}
		}
		peer = from
		if peer == "" {
			return nil, streamError{"invalid-from", "a server must say its domain"}
		}
		if !s.Allowed(peer) {
			return nil, streamError{"policy-violation", "this server does not federate with " + peer}
		}
		switch {
		case st.authed:
			if err := st.write("<stream:features/>"); err != nil {
				return nil, err
			}
			l := s.newLink(*conn, st, peer, false, bidi)
			return l, nil
		case !secure:
			if err := st.write("<stream:features><starttls xmlns='" + nsTLS + "'><required/></starttls></stream:features>"); err != nil {
				return nil, err
			}
			name, err := st.next(nil)
			if err != nil {
				return nil, err
			}
			if name.Space != nsTLS || name.Local != "starttls" {
				return nil, streamError{"policy-violation", "STARTTLS is required"}
			}
			if st.br.Buffered() > 0 {
				return nil, streamError{"policy-violation", "data sent before the TLS handshake"}
			}
			if err := st.write("<proceed xmlns='" + nsTLS + "'/>"); err != nil {
				return nil, err
			}
			tc := tls.Server(raw, s.serverTLS(false))
			if err := tc.Handshake(); err != nil {
				return nil, err
			}
			*conn, secure = tc, true
		default:
			verr := s.verifyPeer((*conn).(*tls.Conn).ConnectionState(), peer)
			certOK := verr == nil
			if !certOK && !s.cfg.Dialback {
				return nil, streamError{"not-authorized", "the certificate is not valid for " + peer + ": " + verr.Error()}
			}
			f := "<stream:features>"
			if certOK {
				f += "<mechanisms xmlns='" + nsSASL + "'><mechanism>EXTERNAL</mechanism></mechanisms><bidi xmlns='" + nsBidiFeature + "'/>"
			}
			if s.cfg.Dialback {
				f += "<dialback xmlns='" + nsDialbackFeature + "'><errors/></dialback>"
			}
			if err := st.write(f + "</stream:features>"); err != nil {
				return nil, err
			}
			var dialback bool
			if bidi, dialback, err = s.authenticate(st, peer, certOK); err != nil {
				return nil, err
			}
			if dialback {
				// No restart after dialback: stanzas follow.
				return s.newLink(*conn, st, peer, false, false), nil
			}
		}
	}
}

// serverTLS is the configuration of an incoming stream's TLS: the peer's
// certificate asked for (SASL EXTERNAL, XEP-0178), and on a direct TLS
// listener the ALPN protocol of XEP-0368, which a peer offering others
// only is refused.
func (s *Service) serverTLS(directTLS bool) *tls.Config {
	cfg := s.cfg.TLS.Clone()
	cfg.ClientAuth = tls.RequestClientCert
	cfg.NextProtos = nil
	if directTLS {
		cfg.NextProtos = []string{alpnServer}
	}
	return cfg
}

// authenticate runs SASL EXTERNAL for peer when its certificate was
// verified (certOK), after an optional XEP-0288 bidi request, or dialback
// when allowed; it answers the dialback verification requests of other
// servers meanwhile.
func (s *Service) authenticate(st *stream, peer string, certOK bool) (bidi, dialback bool, err error) {
	for {
		// <auth/>, <db:result/> or <db:verify/>.
		var el struct {
			dbElement
			Mechanism string `xml:"mechanism,attr"`
		}
		name, err := st.next(&el)
		if err != nil {
			return false, false, err
		}
		auth := saslAuth{Mechanism: el.Mechanism, Text: el.Key}
		switch {
		case name.Space == nsBidi && name.Local == "bidi" && !bidi && certOK:
			bidi = true
			continue
		case name.Space == nsDialback && name.Local == "verify" && s.cfg.Dialback:
			if err := s.answerVerify(st, el.dbElement); err != nil {
				return false, false, err
			}
			continue
		case name.Space == nsDialback && name.Local == "result" && s.cfg.Dialback:
			if err := s.dialbackIn(st, peer, el.dbElement); err != nil {
				return false, false, err
			}
			return false, true, nil
		case name.Space != nsSASL || name.Local != "auth" || !certOK:
			return false, false, streamError{"not-authorized", "authenticate first"}
		case auth.Mechanism != "EXTERNAL":
			if err := st.write("<failure xmlns='" + nsSASL + "'><invalid-mechanism/></failure>"); err != nil {
				return false, false, err
			}
			continue
		}
		authzid := ""
		if auth.Text != "=" && auth.Text != "" {
			b, err := base64.StdEncoding.DecodeString(auth.Text)
			if err != nil {
				return false, false, streamError{"bad-format", "bad base64 in SASL"}
			}
			authzid = string(b)
		}
		if authzid != "" && authzid != peer {
			st.write("<failure xmlns='" + nsSASL + "'><invalid-authzid/></failure>")
			return false, false, streamError{"not-authorized", "authenticated as " + peer + ", not " + authzid}
		}
		if err := st.write("<success xmlns='" + nsSASL + "'/>"); err != nil {
			return false, false, err
		}
		st.authed = true
		return bidi, false, nil
	}
}
