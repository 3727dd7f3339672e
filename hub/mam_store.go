package hub

import (
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// The message archive (XEP-0313): every chat or normal message with a body
// that an account sends or receives, kept for ArchiveConfig.Retention and
// at most Cap per account. An entry is keyed mam:<local>:<id>, where the id
// is the archive's stanza-id (XEP-0359): the nanoseconds since 1970 when
// the hub archived it, 19 digits, unique while the clock does not go back
// across a restart. So ids sort by time, start and end filters are key
// ranges, and RSM paging is a range scan. Entries expire by BuntDB's TTL,
// so retention never rewrites the archive. BuntDB holds them in memory:
// about 200 bytes besides the message each, so Cap bounds an account's
// share (10,000 messages of 300 bytes: about 5 MB).

const mamPrefix = "mam:"

// ArchiveConfig sets the message archive.
type ArchiveConfig struct {
	Retention time.Duration // how long messages are kept; 0 = DefaultArchiveRetention, negative turns the archive off
	Cap       int           // messages per account; 0 = DefaultArchiveCap
}

// Defaults of the message archive.
const (
	DefaultArchiveRetention = 30 * 24 * time.Hour
	DefaultArchiveCap       = 10000
)

// archive stores the accounts' messages through the committer.
type archive struct {
	db        *buntdb.DB
	commit    *store.Committer
	retention time.Duration
	cap       int
	log       *slog.Logger
	last      atomic.Int64 // the last id handed out
	// counts is the entries per account as the writer goroutine last
	// knew them; only the writer's transactions touch it.
	counts map[string]int
}

func newArchive(cfg ArchiveConfig, db *buntdb.DB, commit *store.Committer, log *slog.Logger) *archive {
	if cfg.Cap <= 0 {
		cfg.Cap = DefaultArchiveCap
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultArchiveRetention
	}
	return &archive{db: db, commit: commit, retention: cfg.Retention, cap: cfg.Cap, log: log, counts: map[string]int{}}
}

func (a *archive) on() bool { return a != nil && a.retention > 0 }

// archived is one stored message. It is stored as one byte, 'o' when the
// account sent it or 'i', the other party's JID, a newline, and the
// message: cheaper to write than JSON, and a JID holds no newline.
type archived struct {
	With string // the other party's JID as it appeared (full or bare)
	Out  bool   // the account sent it
	Raw  string // the message as delivered, from stamped
}

func (a archived) encode() string {
	b := make([]byte, 0, 2+len(a.With)+len(a.Raw))
	if a.Out {
		b = append(b, 'o')
	} else {
		b = append(b, 'i')
	}
	b = append(b, a.With...)
	b = append(b, '\n')
	return string(append(b, a.Raw...))
}

func decodeArchived(v string) (archived, bool) {
	nl := strings.IndexByte(v, '\n')
	if len(v) < 2 || nl < 0 || v[0] != 'o' && v[0] != 'i' {
		return archived{}, false
	}
	return archived{Out: v[0] == 'o', With: v[1:nl], Raw: v[nl+1:]}, true
}

// nextID returns a new id: the time now, or one more than the last id when
// the clock has not moved on.
func (a *archive) nextID() int64 {
	now := time.Now().UnixNano()
	for {
		last := a.last.Load()
		id := max(now, last+1)
		if a.last.CompareAndSwap(last, id) {
			return id
		}
	}
}

func formatID(id int64) string { return string(appendID(nil, id)) }

// appendID appends id as 19 digits, so that ids sort as strings.
func appendID(b []byte, id int64) []byte { return store.AppendPadded(b, uint64(id), 19) }

// parseID reads an archive id; ok is false for anything else.
func parseID(s string) (int64, bool) {
	if len(s) != 19 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

func mamKey(local string, id int64) string {
	b := make([]byte, 0, len(mamPrefix)+len(local)+20)
	b = append(b, mamPrefix...)
	b = append(b, local...)
	return string(appendID(append(b, ':'), id))
}

// add archives raw for the account local under id (from nextID). The
// write is durable with the committer's next batch; the caller does not
// wait, as the message is delivered at once either way.
func (a *archive) add(local string, id int64, with string, out bool, raw []byte) {
	v := archived{With: with, Out: out, Raw: string(raw)}.encode()
	key := mamKey(local, id)
	opts := &buntdb.SetOptions{Expires: true, TTL: a.retention}
	a.commit.Submit(func(tx *buntdb.Tx) error {
		if _, _, err := tx.Set(key, v, opts); err != nil {
			return err
		}
		return a.trim(tx, local)
	}, func(err error) {
		// The committer itself logs writes refused for a full disk.
		if err != nil && !errors.Is(err, store.ErrUnwritable) {
			a.log.Error("archiving a message", "account", local, "err", err)
		}
	})
}

// settle waits until the archive writes submitted so far are durable and
// readable: a query then holds every message delivered before it.
func (a *archive) settle() {
	a.commit.Later(func(*buntdb.Tx) error { return nil }).Wait()
}

// trim keeps local's archive within the cap: once it is over, the oldest
// tenth goes, so that the archive is counted only once every cap/10
// messages. It runs in the writer's transaction.
func (a *archive) trim(tx *buntdb.Tx, local string) error {
	n, known := a.counts[local]
	if known && n < a.cap {
		a.counts[local] = n + 1
		return nil
	}
	var keys []string
	store.AscendPrefix(tx, mamPrefix+local+":", func(k, _ string) bool {
		keys = append(keys, k)
		return true
	})
	if len(keys) <= a.cap {
		a.counts[local] = len(keys)
		return nil
	}
	drop := len(keys) - a.cap*9/10
	a.counts[local] = len(keys) - drop
	return store.Delete(tx, keys[:drop]...)
}

// forget deletes local's archive, in tx.
func (a *archive) forget(tx *buntdb.Tx, local string) error {
	var keys []string
	store.AscendPrefix(tx, mamPrefix+local+":", func(k, _ string) bool {
		keys = append(keys, k)
		return true
	})
	delete(a.counts, local)
	return store.Delete(tx, keys...)
}

// entry is an archived message read back.
type entry struct {
	id int64
	archived
}

// page reads at most n entries of local's archive with ids in [lo, hi]
// that keep (nil: all) says to keep, oldest first; backward, the newest
// such ones. more reports that another entry matches beyond the page in
// the direction read.
func (a *archive) page(local string, lo, hi int64, n int, backward bool, keep func(*archived) bool) (out []entry, more bool) {
	lo = max64(lo, time.Now().Add(-a.retention).UnixNano()) // expired, not yet swept
	if lo > hi {
		return nil, false
	}
	from, to := mamKey(local, lo), mamKey(local, hi)
	a.db.View(func(tx *buntdb.Tx) error {
		visit := func(k, v string) bool {
			id, ok := parseID(k[len(k)-19:])
			a, ok2 := decodeArchived(v)
			if !ok || !ok2 || keep != nil && !keep(&a) {
				return true
			}
			e := entry{archived: a}
			if len(out) == n {
				more = true
				return false
			}
			e.id = id
			out = append(out, e)
			return true
		}
		if backward {
			return tx.DescendLessOrEqual("", to, func(k, v string) bool {
				return k >= from && visit(k, v)
			})
		}
		return tx.AscendRange("", from, to+"\x00", visit)
	})
	if backward {
		slices.Reverse(out)
	}
	return out, more
}

// get returns local's archived message id.
func (a *archive) get(local string, id int64) (entry, bool) {
	var e entry
	found := false
	a.db.View(func(tx *buntdb.Tx) error {
		v, err := tx.Get(mamKey(local, id))
		if err == nil {
			e.archived, found = decodeArchived(v)
			e.id = id
		}
		return nil
	})
	return e, found
}

// has reports whether local's archive holds id.
func (a *archive) has(local string, id int64) bool {
	_, ok := a.get(local, id)
	return ok
}

func max64(a, b int64) int64 { return max(a, b) }
