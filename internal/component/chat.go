package component

import (
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
)

// maxCommands bounds the chat commands answered at once when they may ask
// the peers; more wait, and so does the link.
const maxCommands = 64

// chat answers the messages sent to a link's domain with the
// application's chat commands, from the address they were sent to.
type chat struct {
	link     *Link
	accounts *devices.Store
	handler  hub.MessageHandler
	running  chan struct{} // nil: answered on the link's reading goroutine
}

// newChat makes the chat of a link; async when a command may wait for the
// peers' answers, which must not hold up the link's reading goroutine
// (every fix goes through it).
func newChat(l *Link, accounts *devices.Store, handler hub.MessageHandler, async bool) *chat {
	c := &chat{link: l, accounts: accounts, handler: handler}
	if async {
		c.running = make(chan struct{}, maxCommands)
	}
	return c
}

// message answers one message, on the link's reading goroutine.
func (c *chat) message(el *xmlnode.Node, from, to string) {
	switch el.Attr("type") {
	case "error", "headline", "groupchat":
		return
	}
	body := el.Child(NS, "body")
	if body == nil {
		return // a chat state or a receipt
	}
	account, _ := accountOf(c.accounts, from)
	w, m := &writer{link: c.link, el: el, from: to, to: from}, &hub.Message{From: from, Account: account, Body: body.Text}
	if c.running == nil {
		c.handler.HandleMessage(w, m)
		return
	}
	c.running <- struct{}{}
	go func() {
		defer func() { <-c.running }()
		c.handler.HandleMessage(w, m)
	}()
}

// writer answers one message, from the address it was sent to.
type writer struct {
	link     *Link
	el       *xmlnode.Node
	from, to string
	done     bool
}

func (w *writer) Reply(body string) {
	if w.done {
		return
	}
	w.done = true
	b := append([]byte("<message type='chat'"), attrs(w.from, w.to, w.el.Attr("id"))...)
	b = append(b, "><body>"...)
	b = xmlesc.Text(b, body)
	w.link.Send(append(b, "</body></message>"...))
}

func (w *writer) Forbid(text string) {
	if w.done {
		return
	}
	w.done = true
	b := append([]byte("<message type='error'"), attrs(w.from, w.to, w.el.Attr("id"))...)
	b = append(b, '>')
	b = appendError(b, "auth", "forbidden", text)
	w.link.Send(append(b, "</message>"...))
}
