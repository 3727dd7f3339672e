package geoloc

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/history"
	"github.com/tidwall/buntdb"
)

// Sensor series with a history store, as trails (history.go): the readings
// of the last seconds are tm: keys in BuntDB, older ones sealed in the
// history store; a read merges both, times to the millisecond.

var unescapeSensor = strings.NewReplacer("%3A", ":", "%25", "%")

// parseSeriesKey splits tm:<device>:<escaped sensor>:<ns>.
func parseSeriesKey(k string) (history.Series, int64, bool) {
	rest := strings.TrimPrefix(k, seriesPrefix)
	device, rest, ok := strings.Cut(rest, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 {
		return history.Series{}, 0, false
	}
	ns, err := strconv.ParseInt(rest[i+1:], 10, 64)
	return history.Series{Device: device, Sensor: unescapeSensor.Replace(rest[:i])}, ns, err == nil
}

// historyReading is a tm: value as the history keeps it.
func historyReading(v string, ns int64) history.Reading {
	var p point
	json.Unmarshal([]byte(v), &p)
	return history.Reading{Time: time.Unix(0, ns).UnixMilli(), Value: p.V, Unit: p.U, Node: p.N}
}

// historySeries is Series with a history store.
func (s *Store) historySeries(device, sensor string, from, to time.Time, limit int) []Reading {
	// Unsealed readings: few, the last seconds' (or late ones).
	prefix := seriesPrefix + device + ":" + escapeSensor(sensor) + ":"
	var recent []history.Reading
	lo, hi := msRange(from, to)
	if lo > hi {
		return nil
	}
	// The keys' nanoseconds that fall in those milliseconds.
	s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendRange("", prefix+nsKey(time.UnixMilli(lo)), prefix+nsKey(time.UnixMilli(hi).Add(time.Millisecond)), func(k, v string) bool {
			ns, err := strconv.ParseInt(k[len(prefix):], 10, 64)
			if err != nil {
				return true
			}
			r := historyReading(v, ns)
			if n := len(recent); n > 0 && recent[n-1].Time == r.Time {
				recent[n-1] = r
			} else {
				recent = append(recent, r)
			}
			return true
		})
	})
	var out []Reading
	add := func(r history.Reading) bool {
		out = append(out, Reading{Sensor: sensor, Value: r.Value, Unit: r.Unit, Node: r.Node, Time: time.UnixMilli(r.Time).UTC()})
		return limit <= 0 || len(out) < limit
	}
	need := 0 // enough for limit even where unsealed copies replace sealed readings
	if limit > 0 {
		need = limit + len(recent)
	}
	sealed, _ := s.opt.History.Readings(history.Series{Device: device, Sensor: sensor}, lo, hi, need)
	for _, r := range sealed {
		for len(recent) > 0 && recent[0].Time < r.Time {
			if !add(recent[0]) {
				return out
			}
			recent = recent[1:]
		}
		if len(recent) > 0 && recent[0].Time == r.Time {
			continue // the unsealed copy comes next
		}
		if !add(r) {
			return out
		}
	}
	for _, r := range recent {
		if !add(r) {
			break
		}
	}
	return out
}
