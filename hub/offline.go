package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/tidwall/buntdb"
)

// offlinePrefix keys stored messages: off:<local>:<time><seq>, so that a
// prefix scan returns an account's messages in arrival order.
const offlinePrefix = "off:"

var errStorageFull = errors.New("offline storage full")

// offline stores messages for accounts with no available resource
// (XEP-0160), at most cap messages and bytes bytes per account.
type offline struct {
	commit *store.Committer
	cap    int
	bytes  int
	seq    atomic.Uint64
	// Each account's lock orders storing against a resource of it becoming
	// available: see storeOffline and broadcast. Only the account's own
	// senders and resources share it.
	mu    sync.Mutex // guards locks
	locks map[string]*accountLock
}

type accountLock struct {
	sync.Mutex
	users int
}

// lock takes the lock of local's offline store and returns its unlock.
func (o *offline) lock(local string) (unlock func()) {
	o.mu.Lock()
	if o.locks == nil {
		o.locks = map[string]*accountLock{}
	}
	l := o.locks[local]
	if l == nil {
		l = &accountLock{}
		o.locks[local] = l
	}
	l.users++
	o.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		o.mu.Lock()
		if l.users--; l.users == 0 {
			delete(o.locks, local)
		}
		o.mu.Unlock()
	}
}

type storedMessage struct {
	At       time.Time `json:"at"`
	StartEnd int       `json:"se"`
	Empty    bool      `json:"e,omitempty"`
	Raw      string    `json:"x"`
}

// store stages a stamped message for local; Wait tells whether it is kept
// (errStorageFull when the account's store is full).
func (o *offline) store(local string, raw []byte, startEnd int, empty bool) func() error {
	now := time.Now().UTC()
	key := fmt.Sprintf("%s%s:%020d%06d", offlinePrefix, local, now.UnixNano(), o.seq.Add(1)%1e6)
	b, err := json.Marshal(storedMessage{At: now, StartEnd: startEnd, Empty: empty, Raw: string(raw)})
	if err != nil {
		return func() error { return err }
	}
	full := false
	saved := o.commit.Later(func(tx *buntdb.Tx) error {
		n, size := 0, len(b)
		store.AscendPrefix(tx, offlinePrefix+local+":", func(_, v string) bool {
			n++
			size += len(v)
			return n < o.cap && size <= o.bytes
		})
		if full = n >= o.cap || size > o.bytes; full {
			return nil // refused, not a failed batch
		}
		_, _, err := tx.Set(key, string(b), nil)
		return err
	})
	return func() error {
		if err := saved.Wait(); err != nil {
			return err
		}
		if full {
			return errStorageFull
		}
		return nil
	}
}

// take removes and returns local's stored messages, oldest first: those
// staged before it too, as the committer keeps the order.
func (o *offline) take(local string) ([]storedMessage, error) {
	var out []storedMessage
	err := o.commit.Later(func(tx *buntdb.Tx) error {
		out = out[:0]
		var keys []string
		store.AscendPrefix(tx, offlinePrefix+local+":", func(k, v string) bool {
			var m storedMessage
			if json.Unmarshal([]byte(v), &m) == nil {
				out = append(out, m)
			}
			keys = append(keys, k)
			return true
		})
		return store.Delete(tx, keys...)
	}).Wait()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// storeOffline keeps a message for local unless a resource of the account
// has become available since the caller looked (then that one gets it
// now). A resource's first presence takes the same lock to become available
// and receive what was stored, so nothing is stored after that flush and an
// operator reads messages in the order they came. A message that already
// waited (unacknowledged by a session that ended) carries a delay stamp
// when a resource gets it now, as it would from storage.
func (s *Server) storeOffline(local string, stanza []byte, startEnd int, empty, waited bool) error {
	unlock := s.offline.lock(local)
	live := stanza
	if waited {
		live = wire.AppendWithChild(nil, stanza, startEnd, empty, s.delayStamp(time.Now(), "Unacknowledged"))
	}
	if s.toAvailable([]byte(local), live) {
		unlock()
		return nil
	}
	saved := s.offline.store(local, stanza, startEnd, empty)
	unlock() // the committer keeps the order from here
	return saved()
}

// deliverOffline sends a newly available resource its stored messages,
// each marked with when it arrived (XEP-0203).
func (s *Server) deliverOffline(ss *session) {
	msgs, err := s.offline.take(ss.local)
	if err != nil {
		s.log.Error("reading offline messages", "account", ss.local, "err", err)
		return
	}
	if len(msgs) == 0 {
		return
	}
	var batch []byte
	for _, m := range msgs {
		batch = wire.AppendWithChild(batch, []byte(m.Raw), m.StartEnd, m.Empty, s.delayStamp(m.At, "Offline Storage"))
	}
	// The store is bounded by --offline-bytes, which may be as large as
	// --max-pending: the batch does not count against the slow-reader
	// limit as it is queued, or a full store would cut the client off and
	// lose it.
	ss.sendAllowing(batch, len(batch), len(msgs))
}

// delayStamp is the XEP-0203 stamp of a message the hub kept since at, for
// the reason given.
func (s *Server) delayStamp(at time.Time, reason string) []byte {
	delay := []byte("<delay xmlns='" + nsDelay + "'")
	delay = xmlesc.Attr(delay, "from", s.domain)
	delay = xmlesc.Attr(delay, "stamp", at.UTC().Format("2006-01-02T15:04:05.000Z"))
	return append(append(append(delay, '>'), reason...), "</delay>"...)
}
