package s2s

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"time"
)

// accept negotiates a stream another server opened (RFC 6120 §5, §6;
// XEP-0178; XEP-0288) and then reads its stanzas. STARTTLS is required;
// the peer authenticates with SASL EXTERNAL, which is offered only when
// its certificate is valid for the domain it claims.
func (s *Service) accept(raw net.Conn) {
	raw.SetDeadline(time.Now().Add(s.cfg.ConnectTimeout))
	st := newStream(raw)
	var conn net.Conn = raw
	l, err := s.receive(st, raw, &conn)
	if err != nil {
		var se streamError
		if errors.As(err, &se) {
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			conn.Write([]byte(se.xml()))
		}
		s.log.Info("incoming stream refused", "addr", raw.RemoteAddr(), "err", err)
		conn.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	l.run()
}

func (s *Service) receive(st *stream, raw net.Conn, conn *net.Conn) (*link, error) {
	secure, certOK, bidi := false, false, false
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
		if err := st.write(header(to, from, streamID())); err != nil {
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
			cfg := s.cfg.TLS.Clone()
			cfg.ClientAuth = tls.RequestClientCert
			cfg.NextProtos = nil
			tc := tls.Server(raw, cfg)
			if err := tc.Handshake(); err != nil {
				return nil, err
			}
			*conn, secure = tc, true
		default:
			verr := s.verifyPeer((*conn).(*tls.Conn).ConnectionState(), peer)
			certOK = verr == nil
			if !certOK {
				return nil, streamError{"not-authorized", "the certificate is not valid for " + peer + ": " + verr.Error()}
			}
			if err := st.write("<stream:features><mechanisms xmlns='" + nsSASL + "'><mechanism>EXTERNAL</mechanism></mechanisms><bidi xmlns='" + nsBidiFeature + "'/></stream:features>"); err != nil {
				return nil, err
			}
			if bidi, err = s.authenticate(st, peer); err != nil {
				return nil, err
			}
		}
	}
}

// authenticate runs SASL EXTERNAL for peer, whose certificate was
// verified, after an optional XEP-0288 bidi request.
func (s *Service) authenticate(st *stream, peer string) (bidi bool, err error) {
	for {
		var auth saslAuth
		name, err := st.next(&auth)
		if err != nil {
			return false, err
		}
		switch {
		case name.Space == nsBidi && name.Local == "bidi" && !bidi:
			bidi = true
			continue
		case name.Space != nsSASL || name.Local != "auth":
			return false, streamError{"not-authorized", "authenticate first"}
		case auth.Mechanism != "EXTERNAL":
			if err := st.write("<failure xmlns='" + nsSASL + "'><invalid-mechanism/></failure>"); err != nil {
				return false, err
			}
			continue
		}
		authzid := ""
		if auth.Text != "=" && auth.Text != "" {
			b, err := base64.StdEncoding.DecodeString(auth.Text)
			if err != nil {
				return false, streamError{"bad-format", "bad base64 in SASL"}
			}
			authzid = string(b)
		}
		if authzid != "" && authzid != peer {
			st.write("<failure xmlns='" + nsSASL + "'><invalid-authzid/></failure>")
			return false, streamError{"not-authorized", "authenticated as " + peer + ", not " + authzid}
		}
		if err := st.write("<success xmlns='" + nsSASL + "'/>"); err != nil {
			return false, err
		}
		st.authed = true
		return bidi, nil
	}
}
