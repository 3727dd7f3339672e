package hub

import (
	"bytes"
	"errors"
	"strconv"
	"sync/atomic"

	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlesc"
)

// stanzaErr is a stanza error (RFC 6120 §8.3).
type stanzaErr struct{ typ, cond, text string }

var (
	errServiceUnavailable = stanzaErr{"cancel", "service-unavailable", ""}
	errJIDMalformed       = stanzaErr{"modify", "jid-malformed", ""}
	errBadRequest         = stanzaErr{"modify", "bad-request", ""}
	errRemoteNotFound     = stanzaErr{"cancel", "remote-server-not-found", "federation is off on this hub (--s2s)"}
	errItemNotFound       = stanzaErr{"cancel", "item-not-found", ""}
	errInternal           = stanzaErr{"wait", "internal-server-error", ""}
	errNotAllowed         = stanzaErr{"cancel", "not-allowed", ""}
	errForbidden          = stanzaErr{"auth", "forbidden", ""}
	errNotAcceptable      = stanzaErr{"modify", "not-acceptable", ""}
	errOfflineFull        = stanzaErr{"wait", "service-unavailable", "offline storage is full"}
)

func (e stanzaErr) withText(text string) stanzaErr { e.text = text; return e }

// writeError is the answer to a request whose write failed:
// resource-constraint when the disk is full or unwritable (a retry later
// succeeds), else internal-server-error.
func writeError(err error) stanzaErr {
	if errors.Is(err, store.ErrUnwritable) {
		return stanzaErr{"wait", "resource-constraint", store.ErrUnwritable.Error()}
	}
	return errInternal
}

const nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

var kindNames = [...]string{wire.KindMessage: "message", wire.KindPresence: "presence", wire.KindIQ: "iq"}

// errorReply builds the error answer to el for ss. The reply comes from the
// address the stanza was sent to, and carries its id.
func errorReply(ss *session, el *wire.Element, e stanzaErr) []byte {
	name := kindNames[el.Kind]
	b := make([]byte, 0, 256)
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, " type='error'"...)
	if el.Has(el.To) {
		b = appendRawAttr(b, "from", el.Value(el.To))
	}
	b = append(b, ss.toAttr...)
	if el.Has(el.ID) {
		b = appendRawAttr(b, "id", el.Value(el.ID))
	}
	b = append(b, "><error type='"...)
	b = append(b, e.typ...)
	b = append(b, "'><"...)
	b = append(b, e.cond...)
	b = append(b, " xmlns='"+nsStanzas+"'/>"...)
	if e.text != "" {
		b = append(b, "<text xmlns='"+nsStanzas+"'>"...)
		b = xmlesc.Text(b, e.text)
		b = append(b, "</text>"...)
	}
	b = append(b, "</error></"...)
	b = append(b, name...)
	return append(b, '>')
}

// replyError answers el with an error, unless el is itself an error or an
// IQ result, which are never answered (RFC 6120 §8.3.1).
func (s *Server) replyError(ss *session, el *wire.Element, e stanzaErr) {
	typ := string(el.Value(el.Type))
	if typ == "error" || el.Kind == wire.KindIQ && typ == "result" {
		return
	}
	ss.send(errorReply(ss, el, e))
}

// iqResult builds the result of an IQ request with payload inside. It comes
// from the address the request was sent to, or from nobody when it had none
// (RFC 6120 §8.1.2.1: then the account itself answers).
func iqResult(ss *session, el *wire.Element, payload []byte) []byte {
	b := make([]byte, 0, 64+len(payload))
	b = append(b, "<iq type='result'"...)
	if el.Has(el.To) {
		b = appendRawAttr(b, "from", el.Value(el.To))
	}
	b = append(b, ss.toAttr...)
	b = appendRawAttr(b, "id", el.Value(el.ID))
	if len(payload) == 0 {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	b = append(b, payload...)
	return append(b, "</iq>"...)
}

// appendRawAttr appends an attribute whose value is still escaped as it
// arrived. The value was quoted with ' or "; it may contain the other quote
// unescaped, so it is written in the quote it cannot contain.
func appendRawAttr(b []byte, name string, raw []byte) []byte {
	q := byte('\'')
	if bytes.IndexByte(raw, '\'') >= 0 {
		q = '"'
	}
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '=', q)
	b = append(b, raw...)
	return append(b, q)
}

var serverIQID atomic.Uint64

// newID returns a unique id for stanzas the hub originates.
func newID(prefix string) string {
	return prefix + strconv.FormatUint(serverIQID.Add(1), 36)
}

// serverPing is the XEP-0199 ping the hub sends a client that went quiet.
func (s *Server) serverPing(ss *session) []byte {
	b := []byte("<iq type='get'")
	b = xmlesc.Attr(b, "from", s.domain)
	b = append(b, ss.toAttr...)
	b = xmlesc.Attr(b, "id", newID("ping-"))
	return append(b, "><ping xmlns='urn:xmpp:ping'/></iq>"...)
}
