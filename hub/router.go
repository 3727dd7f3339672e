package hub

import (
	"sync"
)

// router maps bound JIDs to sessions. Each account's session list is
// replaced, never changed in place, so a reader may keep and use the slice
// it got after the lock is released.
type router struct {
	mu    sync.RWMutex
	accts map[string][]*session // by normalized localpart
	n     int
}

func newRouter() *router { return &router{accts: map[string][]*session{}} }

// add binds ss and returns the session it replaces on the same resource.
func (r *router) add(ss *session) (old *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.accts[ss.local]
	next := make([]*session, 0, len(cur)+1)
	for _, o := range cur {
		if o.resource == ss.resource {
			old = o
			continue
		}
		next = append(next, o)
	}
	if old == nil {
		r.n++
	}
	r.accts[ss.local] = append(next, ss)
	return old
}

// remove unbinds ss if it is still bound.
func (r *router) remove(ss *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.accts[ss.local]
	for i, o := range cur {
		if o != ss {
			continue
		}
		r.n--
		if len(cur) == 1 {
			delete(r.accts, ss.local)
			return
		}
		next := make([]*session, 0, len(cur)-1)
		next = append(next, cur[:i]...)
		r.accts[ss.local] = append(next, cur[i+1:]...)
		return
	}
}

// sessions returns the bound sessions of an account.
func (r *router) sessions(local string) []*session {
	r.mu.RLock()
	ss := r.accts[local]
	r.mu.RUnlock()
	return ss
}

// sessionsB is sessions for a name still in the read buffer; indexing the
// map with string(local) does not allocate.
func (r *router) sessionsB(local []byte) []*session {
	r.mu.RLock()
	ss := r.accts[string(local)]
	r.mu.RUnlock()
	return ss
}

// find returns the session bound to local/resource.
func (r *router) find(local, resource []byte) *session {
	for _, ss := range r.sessionsB(local) {
		if ss.resource == string(resource) {
			return ss
		}
	}
	return nil
}

func (r *router) all() []*session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*session, 0, r.n)
	for _, ss := range r.accts {
		out = append(out, ss...)
	}
	return out
}

func (r *router) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.n
}
