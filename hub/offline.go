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
	db    *buntdb.DB
	cap   int
	bytes int
	seq   atomic.Uint64
	// mu orders storing against a resource becoming available: see
	// storeOffline and broadcast.
	mu sync.Mutex
}

type storedMessage struct {
	At       time.Time `json:"at"`
	StartEnd int       `json:"se"`
	Empty    bool      `json:"e,omitempty"`
	Raw      string    `json:"x"`
}

// store keeps a stamped message for local.
func (o *offline) store(local string, raw []byte, startEnd int, empty bool) error {
	now := time.Now().UTC()
	key := fmt.Sprintf("%s%s:%020d%06d", offlinePrefix, local, now.UnixNano(), o.seq.Add(1)%1e6)
	b, err := json.Marshal(storedMessage{At: now, StartEnd: startEnd, Empty: empty, Raw: string(raw)})
	if err != nil {
		return err
	}
	return o.db.Update(func(tx *buntdb.Tx) error {
		n, size := 0, len(b)
		store.AscendPrefix(tx, offlinePrefix+local+":", func(_, v string) bool {
			n++
			size += len(v)
			return n < o.cap && size <= o.bytes
		})
		if n >= o.cap || size > o.bytes {
			return errStorageFull
		}
		_, _, err := tx.Set(key, string(b), nil)
		return err
	})
}

// take removes and returns local's stored messages, oldest first.
func (o *offline) take(local string) ([]storedMessage, error) {
	var out []storedMessage
	err := o.db.Update(func(tx *buntdb.Tx) error {
		var keys []string
		store.AscendPrefix(tx, offlinePrefix+local+":", func(k, v string) bool {
			var m storedMessage
			if json.Unmarshal([]byte(v), &m) == nil {
				out = append(out, m)
			}
			keys = append(keys, k)
			return true
		})
		for _, k := range keys {
			if _, err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// storeOffline keeps a message for local unless a resource of the account
// has become available since the caller looked (then that one gets it
// now). A resource's first presence takes the same lock to become available
// and receive what was stored, so nothing is stored after that flush and an
// operator reads messages in the order they came.
func (s *Server) storeOffline(local string, stanza []byte, startEnd int, empty bool) error {
	s.offline.mu.Lock()
	defer s.offline.mu.Unlock()
	if s.toAvailable([]byte(local), stanza) {
		return nil
	}
	return s.offline.store(local, stanza, startEnd, empty)
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
		delay := []byte("<delay xmlns='" + nsDelay + "'")
		delay = xmlesc.Attr(delay, "from", s.domain)
		delay = xmlesc.Attr(delay, "stamp", m.At.Format("2006-01-02T15:04:05.000Z"))
		delay = append(delay, ">Offline Storage</delay>"...)
		batch = wire.AppendWithChild(batch, []byte(m.Raw), m.StartEnd, m.Empty, delay)
	}
	// The store is bounded by --offline-bytes, which may be as large as
	// --max-pending: the batch does not count against the slow-reader
	// limit as it is queued, or a full store would cut the client off and
	// lose it.
	ss.sendAllowing(batch, len(batch), len(msgs))
}
