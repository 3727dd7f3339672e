package hub

import (
	"bytes"

	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/pubsub"
	"mellium.im/xmpp/stanza"
)

// PublishPEP publishes payload, one element declaring its own namespace, as
// the item itemID on the PEP node of the account called account, as if the
// account had published it from a session: the same authorization, payload
// handlers (the geo engine for XEP-0080, telemetry for XEP-0323), storage
// and notifications. Transports other than XMPP (the MQTT bridge) publish
// this way, so that XMPP watchers see their devices like any other.
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
	b := make([]byte, 0, len(payload)+160+len(node)+len(itemID))
	b = append(b, "<iq type='set' id='pep'><pubsub xmlns='"+pubsub.NS+"'><publish"...)
	b = xmlesc.Attr(b, "node", node)
	b = append(b, "><item"...)
	b = xmlesc.Attr(b, "id", itemID)
	b = append(b, '>')
	b = append(b, payload...)
	b = append(b, "</item></publish></pubsub></iq>"...)
	iq, err := xmlnode.Parse(b, stanza.NSClient)
	if err != nil {
		done(&PublishError{Type: "modify", Condition: "bad-request", Text: "the payload is not well-formed XML"})
		return
	}
	r := pubsub.Request{From: bare, To: bare, ID: "pep", Set: true, IQ: iq}
	s.pubsub.HandleIQ(r, func(reply []byte) { done(publishOutcome(reply)) })
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

// publishOutcome reads pubsub's answer to a publish.
func publishOutcome(reply []byte) error {
	if bytes.HasPrefix(reply, []byte("<iq type='result'")) {
		return nil
	}
	e := &PublishError{Type: "cancel", Condition: "undefined-condition"}
	iq, err := xmlnode.Parse(reply, stanza.NSClient)
	if err != nil {
		return e
	}
	el := iq.Child(stanza.NSClient, "error")
	if el == nil {
		return e
	}
	e.Type = el.Attr("type")
	for _, c := range el.Children {
		switch {
		case c.Space == nsStanzas && c.Local == "text":
			e.Text = c.Text
		case c.Space == nsStanzas && e.Condition == "undefined-condition":
			e.Condition = c.Local
		}
	}
	return e
}
