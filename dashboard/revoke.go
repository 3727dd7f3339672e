package dashboard

import (
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// passwordChanged ends the dashboard logins of the account name, and their
// live streams, when its password changes: whoever knew the old one, or
// held a cookie from it, is out. Its API tokens stay: they are secrets of
// their own, revoked one by one.
func (s *Server) passwordChanged(name string) {
	s.sessions.dropAccount(name)
	s.stream.endRevoked()
}

// accountChanged ends the logins of an account that was removed or may no
// longer watch, and the live streams of its logins and tokens (the tokens
// are revoked by their store), at once rather than at their next request
// or keep-alive.
func (s *Server) accountChanged(c devices.Change) {
	if c.Kind == devices.Removed || c.Kind == devices.Updated && !c.After.Role.Watches() {
		s.sessions.dropAccount(c.Before.Name)
		s.stream.endRevoked()
	}
}

// dropAccount ends every session of the account name: its password
// changed, or it was removed.
func (ss *sessions) dropAccount(name string) {
	ss.mu.Lock()
	var gone []*session
	for k, o := range ss.m {
		if o.account == name {
			o.dead.Store(true)
			delete(ss.m, k)
			gone = append(gone, o)
		}
	}
	ss.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	err := ss.db.Update(func(tx *buntdb.Tx) error {
		keys := make([]string, len(gone))
		for i, o := range gone {
			keys[i] = sessionPrefix + o.key
		}
		return store.Delete(tx, keys...)
	})
	if err != nil {
		ss.log.Error("forgetting dashboard logins", "account", name, "err", err)
	}
	ss.log.Info("dashboard logins ended", "account", name, "logins", len(gone))
}

// endRevoked ends the live streams whose login ended or whose token was
// revoked.
func (b *broker) endRevoked() {
	b.mu.Lock()
	clients := make([]*client, 0, len(b.clients))
	for c := range b.clients {
		clients = append(clients, c)
	}
	b.mu.Unlock()
	for _, c := range clients {
		c.mu.Lock()
		v := c.v
		c.mu.Unlock()
		if !b.s.stillAllowed(v) {
			c.end()
		}
	}
}
