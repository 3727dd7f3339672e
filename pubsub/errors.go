package pubsub

import (
	"errors"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlesc"
)

// writeError is the reply to a write that failed: resource-constraint
// when the disk is full or unwritable (a retry later succeeds), else
// internal-server-error.
func writeError(err error) *Error {
	if errors.Is(err, store.ErrUnwritable) {
		return &errUnwritable
	}
	return &errInternal
}

// Error is a pubsub error reply: a stanza error condition with the
// application-specific condition XEP-0060 names for it.
type Error struct {
	Type, Cond string
	App        string // element in pubsub#errors, or ""
	Feature    string // with App "unsupported": the feature missing
	Text       string
}

func (e *Error) Error() string {
	if e.Text != "" {
		return e.Cond + ": " + e.Text
	}
	return e.Cond
}

func (e Error) with(text string) *Error { e.Text = text; return &e }

const nsErrors = "http://jabber.org/protocol/pubsub#errors"

var (
	errItemNotFound      = Error{Type: "cancel", Cond: "item-not-found"}
	errForbidden         = Error{Type: "auth", Cond: "forbidden"}
	errPresenceRequired  = Error{Type: "auth", Cond: "not-authorized", App: "presence-subscription-required"}
	errNotInRosterGroup  = Error{Type: "auth", Cond: "not-authorized", App: "not-in-roster-group"}
	errClosedNode        = Error{Type: "cancel", Cond: "not-allowed", App: "closed-node"}
	errConflict          = Error{Type: "cancel", Cond: "conflict"}
	errPrecondition      = Error{Type: "cancel", Cond: "conflict", App: "precondition-not-met"}
	errBadRequest        = Error{Type: "modify", Cond: "bad-request"}
	errInvalidJID        = Error{Type: "modify", Cond: "bad-request", App: "invalid-jid"}
	errNodeIDRequired    = Error{Type: "modify", Cond: "bad-request", App: "nodeid-required"}
	errItemRequired      = Error{Type: "modify", Cond: "bad-request", App: "item-required"}
	errInvalidPayload    = Error{Type: "modify", Cond: "bad-request", App: "invalid-payload"}
	errPayloadRequired   = Error{Type: "modify", Cond: "bad-request", App: "payload-required"}
	errNotSubscribed     = Error{Type: "cancel", Cond: "unexpected-request", App: "not-subscribed"}
	errServiceUnavail    = Error{Type: "cancel", Cond: "service-unavailable"}
	errInternal          = Error{Type: "wait", Cond: "internal-server-error"}
	errUnwritable        = Error{Type: "wait", Cond: "resource-constraint", Text: store.ErrUnwritable.Error()}
	errPayloadTooBig     = Error{Type: "modify", Cond: "not-acceptable", App: "payload-too-big"}
	errTooManySubscribed = Error{Type: "wait", Cond: "resource-constraint"}
	errNotAcceptable     = Error{Type: "modify", Cond: "not-acceptable"}
	errTooManyNodes      = Error{Type: "wait", Cond: "resource-constraint"}
)

func unsupported(feature string) *Error {
	return &Error{Type: "cancel", Cond: "feature-not-implemented", App: "unsupported", Feature: feature}
}

// appendError writes the <error/> element.
func (e *Error) appendTo(b []byte) []byte {
	// RFC 6120 §8.3.2: condition, then text, then the application's own.
	b = append(b, "<error type='"+e.Type+"'><"+e.Cond+" xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"...)
	if e.Text != "" {
		b = append(b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>"...)
		b = xmlesc.Text(b, e.Text)
		b = append(b, "</text>"...)
	}
	if e.App != "" {
		b = append(b, "<"+e.App+" xmlns='"+nsErrors+"'"...)
		if e.Feature != "" {
			b = xmlesc.Attr(b, "feature", e.Feature)
		}
		b = append(b, "/>"...)
	}
	return append(b, "</error>"...)
}

// Is makes a refusal comparable with errors.Is to the Err variables: the
// same condition, and the same application condition when target has one.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Cond == e.Cond && (t.App == "" || t.App == e.App)
}

// Refusals a caller of Publish may want to tell apart (errors.Is).
var (
	ErrItemNotFound   error = &errItemNotFound   // no such node (or item)
	ErrForbidden      error = &errForbidden      // the publisher may not publish there
	ErrInvalidPayload error = &errInvalidPayload // the payload is malformed or a handler refused it
	ErrTooManyNodes   error = &errTooManyNodes   // the account has as many PEP nodes as it may
	ErrInternal       error = &errInternal       // the item could not be stored; a retry may succeed
)
