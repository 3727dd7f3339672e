package hub

import (
	"encoding/json"
	"hash/maphash"
	"strconv"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// When a resumable session ends with its window, the messages the client
// never acknowledged go to offline storage, and the client may well have
// read some of them before its link died. A client comes back with
// <resume h=.../> all the same, which says how many it read: the hub keeps
// a small tombstone of the ended session for a day, and on
// such a <resume/> takes the messages the client read back out of offline
// storage before it answers <failed/> (with its own h, so that the client
// knows which of its stanzas arrived). Nothing is then delivered twice.

// tomb is what the hub remembers of a resumable session that ended.
type tomb struct {
	local  string
	in     uint32 // stanzas the hub handled from the client
	acked  uint32 // the client's last h
	sent   uint32
	stored []storedSeq   // messages moved to offline storage, by their count
	ready  chan struct{} // closed once stored is complete
	timer  *time.Timer
}

type storedSeq struct {
	seq uint32
	sum uint64 // of the stanza stored
}

// tombLife is how long a tombstone is kept: a device may come back after
// a long tunnel, a phone after a night.
const tombLife = 24 * time.Hour

var tombSeed = maphash.MakeSeed()

func stanzaSum(raw string) uint64 { return maphash.String(tombSeed, raw) }

// bury keeps t under id for tombLife, and at most max tombstones of an
// account: the oldest go first.
func (r *resumables) bury(id string, t *tomb, max int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tombs == nil {
		r.tombs = map[string]*tomb{}
		r.tombsOf = map[string][]string{}
	}
	r.tombs[id] = t
	ids := append(r.tombsOf[t.local], id)
	for len(ids) > max {
		if old := r.tombs[ids[0]]; old != nil {
			old.timer.Stop()
			delete(r.tombs, ids[0])
		}
		ids = ids[1:]
	}
	r.tombsOf[t.local] = ids
	t.timer = time.AfterFunc(tombLife, func() { r.unbury(id, t) })
}

func (r *resumables) unbury(id string, t *tomb) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tombs[id] != t {
		return
	}
	delete(r.tombs, id)
	t.timer.Stop()
	ids := r.tombsOf[t.local]
	for i, o := range ids {
		if o == id {
			ids = append(ids[:i:i], ids[i+1:]...)
			break
		}
	}
	if len(ids) == 0 {
		delete(r.tombsOf, t.local)
	} else {
		r.tombsOf[t.local] = ids
	}
}

func (r *resumables) tomb(id string) *tomb {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tombs[id]
}

// resumeEnded answers <resume/> for a session that ended with its window:
// the messages the client says it read leave offline storage. It reports
// false when id names no such session of this account.
func (n *negotiation) resumeEnded(id string, h uint32) bool {
	s := n.srv
	t := s.resumable.tomb(id)
	if t == nil || t.local != n.user || h-t.acked > t.sent-t.acked {
		return false
	}
	<-t.ready
	s.resumable.unbury(id, t)
	var read []uint64
	for _, m := range t.stored {
		if m.seq-t.acked <= h-t.acked {
			read = append(read, m.sum)
		}
	}
	if len(read) > 0 {
		err := s.offline.commit.Later(func(tx *buntdb.Tx) error {
			var keys []string
			store.AscendPrefix(tx, offlinePrefix+t.local+":", func(k, v string) bool {
				var m storedMessage
				if json.Unmarshal([]byte(v), &m) == nil && len(read) > 0 && stanzaSum(m.Raw) == read[0] {
					keys = append(keys, k)
					read = read[1:]
				}
				return len(read) > 0
			})
			return store.Delete(tx, keys...)
		}).Wait()
		if err != nil {
			s.log.Error("taking read messages out of offline storage", "account", t.local, "err", err)
		}
	}
	n.writeRaw(smFailed("item-not-found", strconv.FormatUint(uint64(t.in), 10)))
	return true
}
