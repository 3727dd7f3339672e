package hub

// Client state indication (XEP-0352). While a client says it is inactive
// (a phone in a pocket), presence and notifications wait for it, a newer one
// from the same sender or node and publisher superseding the queued one
// (backlog.go); anything else (a message, an alert, an IQ) goes out at once
// and takes what waits with it, in order. <active/> sends what waits.

const nsCSI = "urn:xmpp:csi:0"

var csiFeature = listOnly(nsCSI, "csi")

// setInactive records the client's state; becoming active flushes what
// waits.
func (ss *session) setInactive(inactive bool) {
	if !ss.openOutbox() {
		return
	}
	ss.inactive = inactive
	ss.queued()
}

// holdsState reports that state stanzas queued now wait and are conflated
// from the first: the client is inactive or its link is gone. ss.omu is
// held.
func (ss *session) holdsState() bool { return ss.inactive || ss.parked }
