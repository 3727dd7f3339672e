package hub

// The hub's hooks for the application above it: messages to the hub's own
// JID (and the domain) go to a MessageHandler, shaped like net/http's
// Handler; the application talks back through SendChat (hubchat.go).

// Message is a message with a body from an account to the hub's JID or the
// domain, such as a chat command.
type Message struct {
	From    string // the sender's full JID
	Account string // the sender's account name
	Body    string // the body's text, as sent
}

// MessageWriter answers one Message, once, from the address it was sent to.
type MessageWriter interface {
	// Reply answers with a chat message carrying body.
	Reply(body string)
	// Forbid answers with a forbidden stanza error carrying text.
	Forbid(text string)
}

// MessageHandler answers messages to the hub's JID and the domain. It runs
// on the sender's read loop, so it must not block for long.
type MessageHandler interface {
	HandleMessage(w MessageWriter, m *Message)
}

// MessageHandlerFunc makes a function a MessageHandler.
type MessageHandlerFunc func(w MessageWriter, m *Message)

// HandleMessage calls f(w, m).
func (f MessageHandlerFunc) HandleMessage(w MessageWriter, m *Message) { f(w, m) }

// HandleMessages sets the handler of messages to the hub's JID and the
// domain; without one they are answered service-unavailable. Call it
// before Start.
func (s *Server) HandleMessages(h MessageHandler) { s.messages = h }
