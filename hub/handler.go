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

// HandleMessages sets the handler of messages to the hub's JID and the
// domain; without one they are answered service-unavailable. Call it
// before Start.
func (s *Server) HandleMessages(h MessageHandler) { s.messages = h }

// AvailabilityHandler is what a MessageHandler may also be: told when an
// account's first resource starts taking the messages sent to its bare JID
// (after its stored messages were queued, before live ones can reach it),
// so that it can send what the account missed, to that resource's full
// JID. It runs on the session's goroutine with the offline store locked:
// it must only take note.
type AvailabilityHandler interface {
	Available(account, resource string)
}

// firstAvailable tells the AvailabilityHandler when ss, about to take
// messages, is its account's first resource to.
func (s *Server) firstAvailable(ss *session) {
	h, ok := s.messages.(AvailabilityHandler)
	if !ok {
		return
	}
	for _, o := range s.router.sessions(ss.local) {
		if o != ss && o.deliverable() {
			return
		}
	}
	h.Available(ss.local, ss.resource)
}
