package hub

import (
	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"mellium.im/xmpp/stanza"
)

// serverMessage hands a message to the hub's JID or the domain to the
// application's MessageHandler: a command from a chat. The answer comes
// from the address written to.
func (s *Server) serverMessage(ss *session, el *wire.Element, to addr) {
	switch string(el.Value(el.Type)) {
	case "error", "headline", "groupchat":
		return
	}
	msg, err := xmlnode.Parse(el.Raw, stanza.NSClient)
	if err != nil {
		s.replyError(ss, el, errBadRequest.withText(err.Error()))
		return
	}
	body := msg.Child(stanza.NSClient, "body")
	if body == nil {
		return // a chat state or receipt: nothing to answer
	}
	if s.messages == nil {
		s.replyError(ss, el, errServiceUnavailable)
		return
	}
	if f := s.imOfElement(el); f != 0 {
		// A command is a message the account sent: archived, and seen
		// by its other resources (chatroute.go).
		m := s.newIM(ss, el, f)
		s.archiveOut(m, ss, writtenTo(s, to))
		s.sentCarbons(m, ss)
	}
	s.messages.HandleMessage(&messageWriter{s: s, ss: ss, el: el, to: to},
		&Message{From: ss.full, Account: ss.local, Body: body.Text})
}

// messageWriter answers one message to the hub's JID or the domain.
type messageWriter struct {
	s    *Server
	ss   *session
	el   *wire.Element
	to   addr
	done bool
}

func (w *messageWriter) Reply(body string) {
	if w.done {
		return
	}
	w.done = true
	b := []byte("<message type='chat'")
	if w.to.kind == addrHub {
		b = append(b, w.s.hub.fromAttr...)
	} else {
		b = xmlesc.Attr(b, "from", w.s.domain)
	}
	b = append(b, w.ss.toAttr...)
	if id := w.el.Value(w.el.ID); len(id) > 0 {
		b = xmlesc.Attr(b, "id", string(id))
	}
	b = append(b, "><body>"...)
	b = xmlesc.Text(b, body)
	b = append(b, "</body></message>"...)
	// The answer reaches the account's other resources as a carbon and
	// stays in its archive (chatroute.go).
	m := w.s.hubIM(w.ss.local, b)
	m.inWith = writtenTo(w.s, w.to)
	w.ss.send(m.in)
	w.s.keepIn(m)
	w.s.receivedCarbons(m, w.ss.local, func(o *session) bool { return o == w.ss })
}

// writtenTo is the JID a message to the hub's JID or the domain was written to,
// as archives name it.
func writtenTo(s *Server, to addr) string {
	if to.kind == addrHub {
		return s.hub.full
	}
	return s.domain
}

func (w *messageWriter) Forbid(text string) {
	if w.done {
		return
	}
	w.done = true
	w.s.replyError(w.ss, w.el, errForbidden.withText(text))
}
