package geoloc

import (
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// summaryPrefix keys the operators who get a daily summary:
// dsum:<bare JID> holds the time of day (UTC) it is sent, in minutes.
const summaryPrefix = "dsum:"

// SetDailySummary records that jid gets the daily summary at the time of
// day at (UTC, whole minutes), or with on false that it no longer does.
func (s *Store) SetDailySummary(jid string, at time.Duration, on bool) error {
	return s.change(func(tx *buntdb.Tx) (func(), error) {
		key := summaryPrefix + jid
		if !on {
			if _, err := tx.Delete(key); err != nil && err != buntdb.ErrNotFound {
				return nil, err
			}
			return nil, nil
		}
		_, _, err := tx.Set(key, strconv.Itoa(int(at/time.Minute)), nil)
		return nil, err
	}, func() {})
}

// DailySummaries returns who gets the daily summary, and at what time of
// day (UTC).
func (s *Store) DailySummaries() map[string]time.Duration {
	out := map[string]time.Duration{}
	s.db.View(func(tx *buntdb.Tx) error {
		return store.AscendPrefix(tx, summaryPrefix, func(k, v string) bool {
			if m, err := strconv.Atoi(v); err == nil {
				out[strings.TrimPrefix(k, summaryPrefix)] = time.Duration(m) * time.Minute
			}
			return true
		})
	})
	return out
}
