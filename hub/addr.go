package hub

import (
	"bytes"
	"errors"

	"github.com/geohub/geohub/internal/xmlnode"
	"mellium.im/xmpp/jid"
)

// addrKind says where a to address points.
type addrKind uint8

const (
	addrNone   addrKind = iota // no to: the sender's own account
	addrServer                 // the hub's domain itself
	addrBare                   // a local account's bare JID
	addrFull                   // a local account's full JID
	addrRemote                 // another domain
	addrHub                    // the hub's own JID, bare or full: hubjid.go
)

// addr is a parsed, normalized to address. Its slices point into the
// session's scratch buffer or the stanza and live as long as the stanza.
type addr struct {
	kind     addrKind
	local    []byte
	domain   []byte
	resource []byte
}

// bare returns the normalized bare JID as a string.
func (a addr) bare() string {
	if len(a.local) == 0 {
		return string(a.domain)
	}
	return string(a.local) + "@" + string(a.domain)
}

var errBadJID = errors.New("malformed JID")

// parseAddr parses a raw (still escaped) to attribute. Lowercase printable
// ASCII JIDs, the usual case, are checked here without allocating; anything
// else goes through mellium's full PRECIS normalization.
func (s *Server) parseAddr(raw []byte, scratch *[]byte) (addr, error) {
	if len(raw) == 0 {
		return addr{kind: addrNone}, nil
	}
	v := raw
	if bytes.IndexByte(v, '&') >= 0 {
		var err error
		if *scratch, err = xmlnode.AppendUnescaped((*scratch)[:0], v); err != nil {
			return addr{}, errBadJID
		}
		v = *scratch
	}
	a, ok := fastJID(v)
	if !ok {
		j, err := jid.Parse(string(v))
		if err != nil {
			return addr{}, errBadJID
		}
		a = addr{local: []byte(j.Localpart()), domain: []byte(j.Domainpart()), resource: []byte(j.Resourcepart())}
	}
	switch {
	case string(a.domain) != s.domain:
		a.kind = addrRemote
	case len(a.local) == 0:
		a.kind = addrServer
	case string(a.local) == s.hub.local:
		a.kind = addrHub
	case len(a.resource) == 0:
		a.kind = addrBare
	default:
		a.kind = addrFull
	}
	return a, nil
}

// fastJID splits a JID made only of printable ASCII that PRECIS would leave
// unchanged (no uppercase in the localpart or domain). It reports false for
// anything it cannot decide; the caller then uses the full parser.
func fastJID(v []byte) (addr, bool) {
	var a addr
	rest := v
	if i := bytes.IndexByte(rest, '/'); i >= 0 {
		a.resource = rest[i+1:]
		rest = rest[:i]
		if len(a.resource) == 0 || len(a.resource) > 1023 {
			return a, false
		}
		for _, c := range a.resource {
			if c < 0x21 || c > 0x7e {
				return a, false
			}
		}
	}
	if i := bytes.IndexByte(rest, '@'); i >= 0 {
		a.local = rest[:i]
		rest = rest[i+1:]
		if len(a.local) == 0 || len(a.local) > 1023 {
			return a, false
		}
		for _, c := range a.local {
			if c < 0x21 || c > 0x7e || bytes.IndexByte([]byte(`"&'/:<>@`), c) >= 0 {
				return a, false
			}
			if c >= 'A' && c <= 'Z' {
				return a, false
			}
		}
	}
	a.domain = rest
	if len(a.domain) == 0 || len(a.domain) > 253 || a.domain[len(a.domain)-1] == '.' {
		return a, false
	}
	for _, c := range a.domain {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return a, false
		}
	}
	return a, true
}

// jidTarget parses a JID string for delivery: the address, and for a full
// JID the session bound to it (nil when none is). ok is false when the
// string is not a JID.
func (s *Server) jidTarget(to string) (a addr, full *session, ok bool) {
	var scratch []byte
	a, err := s.parseAddr([]byte(to), &scratch)
	if err != nil {
		return a, nil, false
	}
	if a.kind == addrFull {
		full = s.router.find(a.local, a.resource)
	}
	return a, full, true
}
