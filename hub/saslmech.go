package hub

import (
	"bytes"
	"errors"

	"github.com/geohub/geohub/devices"
	"mellium.im/sasl"
	"mellium.im/xmpp/jid"
)

// SASL failures that mellium does not send itself: the mechanism returns
// one of these, and saslFeature answers with its condition (RFC 6120
// §6.5) and lets the client try again.
var (
	errSASLMalformed = errors.New("malformed SASL message")
	errAuthzid       = errors.New("authorization identity is not the authenticated account")
	errAuthBusy      = errors.New("too many logins in progress from your address")
)

// saslCondition is the failure condition saslFeature sends for err, or ""
// when mellium has answered or nothing should be.
func saslCondition(err error) string {
	switch {
	case malformedSASL(err) || errors.Is(err, errSASLMalformed):
		return "malformed-request"
	case errors.Is(err, errAuthzid):
		return "invalid-authzid"
	case errors.Is(err, errAuthBusy):
		return "temporary-auth-failure"
	}
	return ""
}

// limited counts the exchanges of m against the address's logins in flight
// (authlimit.go): from the client's first message to the end of the
// exchange, or of the negotiation if the client walks away.
func (n *negotiation) limited(m sasl.Mechanism) sasl.Mechanism {
	next := m.Next
	m.Next = func(neg *sasl.Negotiator, msg []byte, data any) (bool, []byte, any, error) {
		if !n.authing {
			if !n.srv.limiter.startAuth(n.ip) {
				return false, nil, nil, errAuthBusy
			}
			n.authing = true
		}
		more, resp, data, err := next(neg, msg, data)
		if !more || err != nil {
			n.endAuth()
		}
		return more, resp, data, err
	}
	return m
}

// endAuth ends the exchange in flight, if any.
func (n *negotiation) endAuth() {
	if n.authing {
		n.authing = false
		n.srv.limiter.endAuth(n.ip)
	}
}

// plainAsked marks a PLAIN exchange that began without an initial response.
type plainAsked struct{}

// plain is the receiving side of SASL PLAIN (RFC 4616). The hub has its
// own, rather than sasl.Plain, so that a bad message gets a SASL failure
// and not the end of the stream, and an authzid must be the account's own
// bare JID.
func (n *negotiation) plain() sasl.Mechanism {
	return sasl.Mechanism{
		Name: "PLAIN",
		Start: func(*sasl.Negotiator) (bool, []byte, any, error) {
			return false, nil, nil, sasl.ErrInvalidState
		},
		Next: func(_ *sasl.Negotiator, msg []byte, data any) (bool, []byte, any, error) {
			if len(msg) == 0 && data == nil {
				// No initial response: an empty challenge asks for it
				// (RFC 6120 §6.4.2).
				return true, nil, plainAsked{}, nil
			}
			parts := bytes.Split(msg, []byte{0})
			if len(parts) != 3 || len(parts[1]) == 0 {
				return false, nil, nil, errSASLMalformed
			}
			name, err := devices.NormalizeName(string(parts[1]))
			if err == nil && len(parts[0]) > 0 && !n.ownAuthzid(string(parts[0]), name) {
				return false, nil, nil, errAuthzid
			}
			// Authenticate runs whatever the name, so that the answer
			// takes as long either way.
			right := n.srv.accounts.Authenticate(name, string(parts[2])) && err == nil
			if !n.result(name, right) {
				return false, nil, nil, sasl.ErrAuthn
			}
			return false, nil, nil, nil
		},
	}
}

// ownAuthzid reports whether authzid is name's bare JID on this hub: acting
// as another entity is not supported.
func (n *negotiation) ownAuthzid(authzid, name string) bool {
	z, err := jid.Parse(authzid)
	return err == nil && z.Localpart() == name && z.Domainpart() == n.srv.domain && z.Resourcepart() == ""
}
