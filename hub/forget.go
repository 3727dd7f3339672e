package hub

import (
	"strconv"
	"strings"

	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// forgetAccount deletes what the hub kept for a removed account: its roster
// and offline messages, the items about it in other rosters (with pushes),
// and its PEP nodes and pubsub subscriptions. An account created later
// under the same name starts clean. (What the application kept about it,
// the application forgets: it watches the accounts too.)
func (s *Server) forgetAccount(name string) {
	bare := s.accounts.JID(name)
	r := s.rosters
	r.mu.Lock()
	delete(r.loaded, name)
	r.staged = append(r.staged, s.cfg.Commit.Later(func(tx *buntdb.Tx) error {
		var keys, owners []string
		store.AscendPrefix(tx, rosterPrefix, func(k, _ string) bool {
			owner, contact, _ := strings.Cut(strings.TrimPrefix(k, rosterPrefix), ":")
			switch {
			case owner == name:
				keys = append(keys, k)
			case contact == bare:
				keys = append(keys, k)
				owners = append(owners, owner)
			}
			return true
		})
		store.AscendPrefix(tx, offlinePrefix+name+":", func(k, _ string) bool {
			keys = append(keys, k)
			return true
		})
		if err := s.archive.forget(tx, name); err != nil {
			return err
		}
		if err := store.Delete(tx, keys...); err != nil {
			return err
		}
		for _, o := range owners {
			v, _ := tx.Get(rosterPrefix + o)
			n, _ := strconv.ParseUint(v, 10, 64)
			if _, _, err := tx.Set(rosterPrefix+o, strconv.FormatUint(n+1, 10), nil); err != nil {
				return err
			}
		}
		return nil
	}))
	// The loaded rosters that hold the account change with the write: the
	// versions stay those the database counts.
	for o, ro := range r.loaded {
		if ro.items[bare] != nil {
			delete(ro.items, bare)
			ro.ver++
			r.touched = append(r.touched, o)
			r.push(o, ro, bare)
		}
	}
	if err := r.unlock(); err != nil {
		s.log.Error("forgetting a removed account", "account", name, "err", err)
	}
	s.pubsub.ForgetAccount(bare)
	s.blocking.forget(name)
}
