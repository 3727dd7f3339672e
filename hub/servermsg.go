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
	w.ss.send(append(b, "</body></message>"...))
}

func (w *messageWriter) Forbid(text string) {
	if w.done {
		return
	}
	w.done = true
	w.s.replyError(w.ss, w.el, errForbidden.withText(text))
}
