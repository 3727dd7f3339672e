package s2s

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"

	"github.com/geohub/geohub/internal/xmlesc"
)

// Server dialback (XEP-0220), for peers whose certificate does not verify
// when Config.Dialback allows it. The originating server sends a key
// bound to the stream; the receiving server asks the originating
// domain's own servers, found as any server is, whether they issued it.
// Keys are HMAC-SHA256 of the stream (XEP-0185) under a secret of this
// process, so a key is only ever checked by the process that made it.

const (
	nsDialback        = "jabber:server:dialback"
	nsDialbackFeature = "urn:xmpp:features:dialback"
)

// dbElement is <db:result/> or <db:verify/>.
type dbElement struct {
	From string `xml:"from,attr"`
	To   string `xml:"to,attr"`
	ID   string `xml:"id,attr"`
	Type string `xml:"type,attr"`
	Key  string `xml:",chardata"`
}

// key is the dialback key for a stream from originating to receiving
// with stream id (XEP-0185 §3).
func (s *Service) key(receiving, originating, id string) string {
	k := sha256.Sum256(s.secret)
	m := hmac.New(sha256.New, []byte(hex.EncodeToString(k[:])))
	m.Write([]byte(receiving + " " + originating + " " + id))
	return hex.EncodeToString(m.Sum(nil))
}

func dbXML(name, from, to, id, typ, key string) string {
	b := []byte("<db:" + name)
	b = xmlesc.Attr(b, "from", from)
	b = xmlesc.Attr(b, "to", to)
	if id != "" {
		b = xmlesc.Attr(b, "id", id)
	}
	if typ != "" {
		b = xmlesc.Attr(b, "type", typ)
	}
	if key == "" {
		return string(b) + "/>"
	}
	b = append(b, '>')
	b = xmlesc.Text(b, key)
	return string(b) + "</db:" + name + ">"
}

// dialbackOut authenticates an outgoing stream to domain: it sends the
// key and waits for the verdict.
func (s *Service) dialbackOut(st *stream, domain string) error {
	if err := st.write(dbXML("result", s.cfg.Domain, domain, "", "", s.key(domain, s.cfg.Domain, st.id))); err != nil {
		return err
	}
	var res dbElement
	name, err := st.next(&res)
	if err != nil {
		return err
	}
	if name.Space != nsDialback || name.Local != "result" || res.Type != "valid" {
		return fmt.Errorf("dialback refused by %s (%s)", domain, res.Type)
	}
	return nil
}

// dialbackIn checks a key an incoming stream claiming to be from peer
// sent, by asking peer's own servers; it answers the verdict.
func (s *Service) dialbackIn(st *stream, peer string, res dbElement) error {
	if res.From != peer || !s.local(res.To) {
		return streamError{"invalid-from", "dialback for another domain than the stream's"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ConnectTimeout)
	defer cancel()
	valid, err := s.verifyKey(ctx, peer, res.To, st.ownID, res.Key)
	if err != nil {
		s.log.Info("dialback: no answer from the authoritative server", "peer", peer, "err", err)
	}
	typ := "invalid"
	if valid {
		typ = "valid"
	}
	if err := st.write(dbXML("result", res.To, peer, "", typ, "")); err != nil {
		return err
	}
	if !valid {
		return streamError{"not-authorized", "dialback key not valid for " + peer}
	}
	return nil
}

// verifyKey asks peer's servers whether they issued key for the stream
// id (XEP-0220 §2.3): a stream with STARTTLS (no certificate check: the
// answer is what is trusted, reached through peer's DNS) and a
// <db:verify/>.
func (s *Service) verifyKey(ctx context.Context, peer, receiving, id, key string) (bool, error) {
	ts, err := targets(ctx, s.cfg.Resolver, s.cfg.Hosts, peer)
	if err != nil {
		return false, err
	}
	var errs []error
	for _, t := range ts {
		ok, err := s.verifyAt(ctx, t, peer, receiving, id, key)
		if err == nil {
			return ok, nil
		}
		errs = append(errs, err)
	}
	return false, errors.Join(errs...)
}

func (s *Service) verifyAt(ctx context.Context, t target, peer, receiving, id, key string) (bool, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return false, err
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	var conn net.Conn = raw
	cfg := s.clientTLS(peer, t.directTLS)
	cfg.InsecureSkipVerify = true
	if t.directTLS {
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return false, err
		}
		conn = tc
	}
	st := newStream(conn)
	for range 2 {
		st.restart(conn)
		if err := st.write(header(receiving, peer, "")); err != nil {
			return false, err
		}
		if _, _, err := st.header(); err != nil {
			return false, err
		}
		var f features
		if _, err := st.next(&f); err != nil {
			return false, err
		}
		if f.StartTLS == nil || conn != raw {
			break
		}
		if err := st.write("<starttls xmlns='" + nsTLS + "'/>"); err != nil {
			return false, err
		}
		if name, err := st.next(nil); err != nil || name.Local != "proceed" {
			return false, errors.New("STARTTLS refused")
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return false, err
		}
		conn = tc
	}
	if err := st.write(dbXML("verify", receiving, peer, id, "", key)); err != nil {
		return false, err
	}
	var v dbElement
	name, err := st.next(&v)
	if err != nil {
		return false, err
	}
	st.write("</stream:stream>")
	return name.Space == nsDialback && name.Local == "verify" && v.ID == id && v.Type == "valid", nil
}

// answerVerify answers a <db:verify/>: whether this process issued key
// for a stream from v.To (this hub) to v.From with id v.ID.
func (s *Service) answerVerify(st *stream, v dbElement) error {
	typ := "invalid"
	if s.local(v.To) && hmac.Equal([]byte(v.Key), []byte(s.key(v.From, v.To, v.ID))) {
		typ = "valid"
	}
	return st.write(dbXML("verify", v.To, v.From, v.ID, typ, ""))
}
