package geoloc

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tidwall/buntdb"
	"github.com/tidwall/gjson"
)

// Alert is an alert record as the log keeps it: the event, and who
// acknowledged it and when, once someone has.
type Alert struct {
	Event
	AckedBy string    `json:"acked_by,omitempty"` // bare JID
	AckedAt time.Time `json:"acked_at,omitzero"`
}

// ErrNoAlert is returned for an alert ID the log does not hold (never
// raised, or expired with the alert retention).
var ErrNoAlert = errors.New("no such alert")

// alertIDLen is the length of an alert ID: 20 digits of Unix nanoseconds
// (when it was raised) and 6 of sequence.
const alertIDLen = 26

// ValidAlertID reports whether id has the form of an alert ID.
func ValidAlertID(id string) bool {
	if len(id) != alertIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// AlertQuery selects alert records. Zero fields select everything.
type AlertQuery struct {
	Fence  string // a fence or rule ID
	Device string // a bare JID
	Kind   string // enter, exit, dwell, cross, below, above
	// From and To bound when the alert was raised, both included.
	From, To time.Time
	// Before is a cursor: only alerts older than this alert ID.
	Before string
	// Limit is the most alerts returned; 0 means 100, and 1000 at most.
	Limit int
	// Visible, when set, says whether the reader may see the alerts of a
	// device; the others are skipped as if they were not there.
	Visible func(device string) bool
}

// Alert query bounds.
const (
	DefaultAlertLimit = 100
	MaxAlertLimit     = 1000
	// maxAlertScan bounds the records one query reads, so that a filter
	// that matches little cannot make a request read the whole log: the
	// query then returns what it found with a cursor to go on from.
	maxAlertScan = 100_000
)

// QueryAlerts returns the alert records q selects, newest first, and the
// cursor for the next page (q.Before), empty when there is nothing older.
func (s *Store) QueryAlerts(q AlertQuery) (alerts []Alert, next string, err error) {
	if q.Before != "" && !ValidAlertID(q.Before) {
		return nil, "", fmt.Errorf("cursor %q is not an alert ID", q.Before)
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultAlertLimit
	case limit > MaxAlertLimit:
		limit = MaxAlertLimit
	}
	// Keys are alert:<raised, 20 digits><seq, 6 digits>: time order.
	top := alertPrefix + "\xff"
	if !q.To.IsZero() {
		top = alertPrefix + nsKey(q.To) + "999999"
	}
	if q.Before != "" && alertPrefix+q.Before < top {
		top = alertPrefix + q.Before
	}
	bottom := alertPrefix
	if !q.From.IsZero() {
		bottom = alertPrefix + nsKey(q.From) // greater than it: From itself is in
	}
	alerts = []Alert{}
	scanned := 0
	var last string
	var bad error
	s.db.View(func(tx *buntdb.Tx) error {
		return tx.DescendRange("", top, bottom, func(k, v string) bool {
			id := k[len(alertPrefix):]
			if id == q.Before {
				return true // the cursor itself was on the last page
			}
			if len(alerts) == limit {
				next = last // there is more
				return false
			}
			if scanned++; scanned > maxAlertScan {
				next = last
				return false
			}
			last = id
			if !matches(v, q) {
				return true
			}
			var a Alert
			if err := json.Unmarshal([]byte(v), &a); err != nil {
				bad = fmt.Errorf("%s: %w", k, err)
				return false
			}
			alerts = append(alerts, a)
			return true
		})
	})
	return alerts, next, bad
}

// matches checks the query's filters on a record's JSON without decoding
// all of it.
func matches(v string, q AlertQuery) bool {
	r := gjson.GetMany(v, "fence", "device", "event")
	return (q.Fence == "" || r[0].Str == q.Fence) &&
		(q.Device == "" || r[1].Str == q.Device) &&
		(q.Kind == "" || r[2].Str == q.Kind) &&
		(q.Visible == nil || q.Visible(r[1].Str))
}

// Alert returns one alert record.
func (s *Store) Alert(id string) (Alert, error) {
	var a Alert
	if !ValidAlertID(id) {
		return a, fmt.Errorf("%s: %w", id, ErrNoAlert)
	}
	err := s.db.View(func(tx *buntdb.Tx) error {
		v, err := tx.Get(alertPrefix + id)
		if err == buntdb.ErrNotFound {
			return fmt.Errorf("%s: %w", id, ErrNoAlert)
		}
		if err != nil {
			return err
		}
		return json.Unmarshal([]byte(v), &a)
	})
	return a, err
}

// AckAlert records that by (a bare JID) acknowledged the alert at at, and
// returns the record. The first acknowledgement stands: acknowledging
// again changes nothing. The record keeps the expiry it had.
func (s *Store) AckAlert(id, by string, at time.Time) (Alert, error) {
	var a Alert
	if !ValidAlertID(id) {
		return a, fmt.Errorf("%s: %w", id, ErrNoAlert)
	}
	err := s.change(func(tx *buntdb.Tx) (func(), error) {
		key := alertPrefix + id
		v, err := tx.Get(key)
		if err == buntdb.ErrNotFound {
			return nil, refusal{fmt.Errorf("%s: %w", id, ErrNoAlert)}
		}
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(v), &a); err != nil {
			return nil, refusal{fmt.Errorf("%s: %w", key, err)}
		}
		if a.AckedBy != "" {
			return nil, nil
		}
		a.AckedBy, a.AckedAt = by, at.UTC()
		b, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		var opts *buntdb.SetOptions
		if ttl, err := tx.TTL(key); err == nil && ttl > 0 {
			opts = &buntdb.SetOptions{Expires: true, TTL: ttl}
		}
		_, _, err = tx.Set(key, string(b), opts)
		return nil, err
	}, func() {})
	return a, err
}
