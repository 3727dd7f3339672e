package devices

import (
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// Online state: sessions counted per account, and last-seen times written
// in batches because they are informational.

func (s *Store) writeLastSeen() {
	defer close(s.stopped)
	t := time.NewTicker(lastSeenEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.stop:
			s.flushLastSeen()
			return
		}
		s.flushLastSeen()
	}
}

func (s *Store) flushLastSeen() {
	s.mu.Lock()
	var batch []Account
	for name, at := range s.seen {
		if a := s.accounts[name]; a != nil {
			a.LastSeen = at
			batch = append(batch, *a)
		}
	}
	clear(s.seen)
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	// Best effort: last seen is informational and is kept in memory anyway.
	s.db.Update(func(tx *buntdb.Tx) error {
		for _, a := range batch {
			if _, err := tx.Get(accountPrefix + a.Name); err != nil {
				continue // removed meanwhile
			}
			if err := store.SetJSON(tx, accountPrefix+a.Name, a); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetOnline records that a session of name started (true) or ended (false).
// When the last session ends, the time is kept as the account's last seen.
// Watchers of online state hear of the first session and of the last one's
// end.
func (s *Store) SetOnline(name string, online bool) {
	if s.setOnline(name, online) {
		s.mu.RLock()
		ws := s.onlineWatch
		s.mu.RUnlock()
		for _, w := range ws {
			w(name, online)
		}
	}
}

// setOnline counts sessions; it reports whether the account went online or
// offline.
func (s *Store) setOnline(name string, online bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if online {
		s.online[name]++
		return s.online[name] == 1
	}
	if _, ok := s.online[name]; !ok {
		return false
	}
	if s.online[name]--; s.online[name] > 0 {
		return false
	}
	delete(s.online, name)
	if a := s.accounts[name]; a != nil {
		now := time.Now().UTC().Truncate(time.Second)
		a.LastSeen = now
		s.seen[name] = now
	}
	return true
}

// WatchOnline registers fn to hear when an account comes online (its first
// session) and goes offline (its last session ends). fn runs on the
// session's goroutine and must not block.
func (s *Store) WatchOnline(fn func(name string, online bool)) {
	s.mu.Lock()
	s.onlineWatch = append(s.onlineWatch, fn)
	s.mu.Unlock()
}

// Online reports whether name has at least one session.
func (s *Store) Online(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.online[name] > 0
}
