package hub

import "net/http"

// BOSHParked reports how many requests of the BOSH session sid wait for
// the requests before them, so that tests of rid ordering know a request
// arrived before they send the ones it waits for.
func BOSHParked(h http.Handler, sid string) int {
	b := h.(*boshHandler)
	b.mu.Lock()
	ss := b.sessions[sid]
	b.mu.Unlock()
	if ss == nil {
		return -1
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.parked)
}
