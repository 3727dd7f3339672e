package hub

import (
	"errors"

	"github.com/geohub/geohub/pubsub"
)

// PublishPEP publishes payload, one element declaring its own namespace, as
// the item itemID on the PEP node of the account called account, as if the
// account had published it from a session: the same authorization, payload
// handlers (those the application registered, such as XEP-0080 and
// XEP-0323), storage and notifications, through pubsub's typed Publish.
// Transports other than XMPP (the MQTT bridge) publish this way, so that
// XMPP watchers see their devices like any other.
//
// done is called once: with nil when the item is durable and its
// notifications are queued, else with a *PublishError. It runs on the
// caller's goroutine (a refusal) or on the pubsub delivery goroutine, and
// must not block.
func (s *Server) PublishPEP(account, node, itemID string, payload []byte, done func(error)) {
	if !s.accounts.Exists(account) {
		done(&PublishError{Type: "cancel", Condition: "item-not-found", Text: "no account " + account})
		return
	}
	bare := s.accounts.JID(account)
	req := pubsub.PublishRequest{Publisher: bare, Service: bare, Node: node, ItemID: itemID, Payload: payload}
	s.pubsub.PublishAsync(req, func(_ pubsub.PublishResult, err error) { done(publishError(err)) })
}

// PublishError is a publish the hub refused or could not store: the
// stanza error an XMPP client would have been answered.
type PublishError struct {
	Type      string // cancel, modify, auth or wait
	Condition string // the defined condition, such as not-acceptable
	Text      string
}

func (e *PublishError) Error() string {
	if e.Text == "" {
		return "publish refused: " + e.Condition
	}
	return "publish refused: " + e.Condition + ": " + e.Text
}

// Refused reports whether the publish itself was at fault (a bad payload,
// no such account, not allowed, a limit of the account reached such as
// its number of PEP nodes: resource-constraint), so that sending it again
// would fail again. Otherwise the hub failed to store it (a wait error
// other than resource-constraint, internal-server-error) and a retry may
// succeed.
func (e *PublishError) Refused() bool {
	if e.Condition == "internal-server-error" {
		return false
	}
	return e.Type != "wait" || e.Condition == "resource-constraint"
}

// publishError turns pubsub's typed error into the hub's.
func publishError(err error) error {
	if err == nil {
		return nil
	}
	var pe *pubsub.Error
	if !errors.As(err, &pe) {
		return &PublishError{Type: "cancel", Condition: "undefined-condition", Text: err.Error()}
	}
	return &PublishError{Type: pe.Type, Condition: pe.Cond, Text: pe.Text}
}
