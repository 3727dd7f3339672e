package hub

import "net/http"

// BOSHWaiting reports how many requests of the BOSH session sid wait for
// the requests before them (parked) and for something to answer (held),
// so that tests know a request arrived before they go on; -1, -1 when
// there is no such session.
func BOSHWaiting(h http.Handler, sid string) (parked, held int) {
	b := h.(*boshHandler)
	b.mu.Lock()
	ss := b.sessions[sid]
	b.mu.Unlock()
	if ss == nil {
		return -1, -1
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.parked), len(ss.held)
}
