package geoloc

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/history"
	"github.com/geohub/geohub/internal/jsonw"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/tidwall/buntdb"
)

// Telemetry: numeric sensor readings that devices publish as XEP-0323
// (Internet of Things - Sensor Data) <fields/> on their PEP node
// urn:xmpp:iot:sensordata, the latest value of each sensor and a series per
// sensor with a retention.

// NSSensorData is the XEP-0323 namespace, which is also the name of the
// PEP node devices publish their readings on.
const NSSensorData = "urn:xmpp:iot:sensordata"

// Keys owned by the telemetry:
//
//	tm:<device>:<sensor>:<unix nanoseconds, 20 digits>  one reading, expiring with the telemetry retention
//	tml:<device>:<sensor>                               the latest reading of a sensor
//
// <sensor> is the field name with '%' and ':' escaped (%25, %3A), so the
// separators stay unambiguous: a bare JID contains no ':'.
const (
	seriesPrefix = "tm:"
	readingKey   = "tml:"
)

// DefaultTelemetryRetention is how long readings are kept by default.
const DefaultTelemetryRetention = 7 * 24 * time.Hour

// telemetry is the store's memory of readings and threshold rules, guarded
// by Store.mu.
type telemetry struct {
	readings map[string]map[string]Reading // device -> sensor -> latest reading
	rules    map[string]*Rule              // by ID
	bySensor map[string][]*Rule            // sensor -> the rules that read it
	alarms   map[string]map[string]string  // device -> rule ID -> Below or Above, while in alarm
	watch    func(RuleChange)
}

// escapeSensor makes a sensor name safe inside a key.
func escapeSensor(name string) string {
	if !strings.ContainsAny(name, "%:") {
		return name
	}
	return strings.NewReplacer("%", "%25", ":", "%3A").Replace(name)
}

// nsKey is a time as 20 digits, clamped to what they can hold.
func nsKey(t time.Time) string {
	switch {
	case t.Before(time.Unix(0, 0)):
		return digits20(0)
	case t.After(time.Unix(0, math.MaxInt64)):
		return digits20(math.MaxInt64)
	}
	return digits20(t.UnixNano())
}

// digits20 writes n ≥ 0 padded to 20 digits, as %020d does, so that keys
// sort as numbers do; without fmt, as every fix and reading has a key.
func digits20(n int64) string { return string(store.AppendPadded(make([]byte, 0, 20), uint64(n), 20)) }

func seriesKey(device, sensor string, t time.Time) string {
	return seriesPrefix + device + ":" + escapeSensor(sensor) + ":" + nsKey(t)
}

// point is a reading as kept in a series: the device, sensor and time are
// in the key.
type point struct {
	V float64 `json:"v"`
	U string  `json:"u,omitempty"`
	N string  `json:"n,omitempty"`
}

// appendJSON writes the point as JSON without reflection: this is on the
// writer goroutine, once per reading.
func (p point) appendJSON(b []byte) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendFloat(b, p.V, 'g', -1, 64)
	if p.U != "" {
		b = jsonw.AppendString(append(b, `,"u":`...), p.U)
	}
	if p.N != "" {
		b = jsonw.AppendString(append(b, `,"n":`...), p.N)
	}
	return append(b, '}')
}

// loadTelemetry reads the latest readings, the rules and the alarm states.
// s is not yet shared.
func (s *Store) loadTelemetry() error {
	if s.opt.TelemetryRetention <= 0 {
		s.opt.TelemetryRetention = DefaultTelemetryRetention
	}
	s.tm.readings = map[string]map[string]Reading{}
	s.tm.rules = map[string]*Rule{}
	s.tm.bySensor = map[string][]*Rule{}
	s.tm.alarms = map[string]map[string]string{}
	return s.db.View(func(tx *buntdb.Tx) error {
		if err := s.loadReadings(tx, ""); err != nil {
			return err
		}
		if err := s.loadRules(tx); err != nil {
			return err
		}
		s.loadAlarms(tx, "")
		return nil
	})
}

// loadReadings reads the latest readings of one device, or of all (device
// ""). s.mu is held or s not yet shared.
func (s *Store) loadReadings(tx *buntdb.Tx, device string) error {
	prefix := readingKey
	if device != "" {
		prefix += device + ":"
	}
	var bad error
	store.AscendPrefix(tx, prefix, func(k, v string) bool {
		dev, _, _ := strings.Cut(strings.TrimPrefix(k, readingKey), ":")
		var r Reading
		if bad = json.Unmarshal([]byte(v), &r); bad != nil {
			bad = fmt.Errorf("%s: %w", k, bad)
			return false
		}
		m := s.tm.readings[dev]
		if m == nil {
			m = map[string]Reading{}
			s.tm.readings[dev] = m
		}
		m[r.Sensor] = r
		return true
	})
	return bad
}

// TelemetryRetention is how long readings are kept.
func (s *Store) TelemetryRetention() time.Duration { return s.opt.TelemetryRetention }

// HandleSensorData turns an XEP-0323 <fields/> item published by device
// into readings: it parses and validates the payload and stages the
// readings. An item without numeric fields is accepted and stores nothing
// here. The error is a *DataError naming what is wrong. It has the shape of
// a pubsub.PayloadHandler.
func (s *Store) HandleSensorData(device, source string, payload *xmlnode.Node, now time.Time) (store.Write, func(error), error) {
	rs, err := ParseSensorData(payload, now)
	if err != nil || len(rs) == 0 {
		return nil, nil, err
	}
	return s.StageReadings(device, rs, now)
}

// StageReadings checks readings of a device and returns the write that
// stores them, to commit with whatever else belongs to the same publish,
// and the function to call with the commit's outcome. It is the one way
// readings enter the store, whatever carried them.
//
// Each reading joins its sensor's series (unless it is older than the
// retention) and becomes the sensor's latest value unless that is newer:
// readings may come late. Another value for the time of the latest one
// replaces it, in the series too; an exact repeat changes nothing. A new latest value is judged by the threshold
// rules of its sensor; the alerts they raise go to the sink once the write
// is durable. The error refuses the readings; then nothing is stored.
func (s *Store) StageReadings(device string, rs []Reading, received time.Time) (store.Write, func(error), error) {
	if device == "" {
		return nil, nil, fmt.Errorf("readings without a device")
	}
	sensors := map[string]bool{}
	for _, r := range rs {
		if err := checkSensorName(r.Sensor); err != nil {
			return nil, nil, &DataError{quote(r.Sensor), err.Error()}
		}
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			return nil, nil, &DataError{quote(r.Sensor), "must be a finite number"}
		}
		if r.Time.IsZero() {
			return nil, nil, &DataError{quote(r.Sensor), "has no time"}
		}
		sensors[r.Sensor] = true
	}
	s.mu.RLock()
	have := s.tm.readings[device]
	n := len(have)
	for sensor := range sensors {
		if _, ok := have[sensor]; !ok {
			n++
		}
	}
	s.mu.RUnlock()
	if n > maxSensorsPerDevice {
		return nil, nil, &DataError{"fields", fmt.Sprintf("a device may report at most %d different sensors", maxSensorsPerDevice)}
	}
	rs = slices.Clone(rs)
	for i := range rs {
		rs[i].Time = rs[i].Time.UTC()
	}
	// Oldest first: the rules see a sensor's values in the order they were read.
	slices.SortStableFunc(rs, func(a, b Reading) int { return a.Time.Compare(b.Time) })
	received = received.UTC()

	var changed bool
	var events []Event
	var sink func([]Event)
	var unsealed []queued[history.Reading] // for the sealer
	write := func(tx *buntdb.Tx) error {
		// Runs on the committer's goroutine, in commit order.
		s.mu.Lock()
		cur := s.tm.readings[device]
		var latest []Reading
		var groups []string
		resolved := false
		for _, r := range rs {
			if old, had := cur[r.Sensor]; had && (r.Time.Before(old.Time) || r.Time.Equal(old.Time) && r.Value == old.Value && r.Unit == old.Unit) {
				continue // late or repeated: the series only
			}
			if cur == nil {
				cur = map[string]Reading{}
				s.tm.readings[device] = cur
			}
			cur[r.Sensor] = r
			changed = true
			latest = append(latest, r)
			rules := s.tm.bySensor[r.Sensor]
			if len(rules) == 0 {
				continue
			}
			if !resolved && s.dir != nil {
				groups, resolved = s.dir.GroupsOf(device), true
			}
			es, err := s.checkRules(tx, device, groups, r, rules)
			if err != nil {
				s.mu.Unlock()
				return err
			}
			events = append(events, es...)
		}
		if len(events) > 0 {
			// The alert tells where the device is, when it is known.
			if pos, ok := s.latest[device]; ok {
				for i := range events {
					events[i].Position = pos
				}
			}
			sink = s.sink
		}
		s.mu.Unlock()
		if err := logEvents(tx, events, received, s.opt.AlertRetention); err != nil {
			return err
		}
		unsealed = unsealed[:0]
		for _, r := range rs {
			ttl := s.opt.TelemetryRetention - time.Since(r.Time)
			if ttl <= 0 {
				continue
			}
			key, val := seriesKey(device, r.Sensor, r.Time), jsonw.String(point{V: r.Value, U: r.Unit, N: r.Node}.appendJSON)
			// With a history store the sealer moves the reading out
			// within seconds: no TTL, as for trail points (Stage).
			opt := &buntdb.SetOptions{Expires: true, TTL: ttl}
			if s.opt.History != nil {
				opt = nil
				hr := history.Reading{Time: r.Time.UnixMilli(), Value: r.Value, Unit: r.Unit, Node: r.Node}
				unsealed = append(unsealed, queued[history.Reading]{key, sumOf(val), r.Time.UnixNano(), hr})
			}
			if _, _, err := tx.Set(key, val, opt); err != nil {
				return err
			}
		}
		for i, r := range latest {
			if slices.ContainsFunc(latest[i+1:], func(o Reading) bool { return o.Sensor == r.Sensor }) {
				continue // a newer value of the same sensor follows
			}
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, _, err := tx.Set(readingKey+device+":"+escapeSensor(r.Sensor), string(b), nil); err != nil {
				return err
			}
		}
		return nil
	}
	then := func(err error) {
		switch {
		case err != nil && changed:
			s.reloadTelemetry(device) // the batch rolled back: forget what it set
		case err == nil:
			if len(unsealed) > 0 {
				s.seal.queue.pushReadings(unsealed)
			}
			if len(events) > 0 && sink != nil {
				sink(events)
			}
		}
	}
	return write, then, nil
}

// reloadTelemetry makes the memory of a device's readings and alarms what
// the database holds.
func (s *Store) reloadTelemetry(device string) {
	s.db.View(func(tx *buntdb.Tx) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.tm.readings, device)
		delete(s.tm.alarms, device)
		s.loadReadings(tx, device)
		s.loadAlarms(tx, device)
		return nil
	})
}

// Readings returns the latest reading of each sensor of a device, by
// sensor name; nil when it reported none.
func (s *Store) Readings(device string) map[string]Reading {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.tm.readings[device]
	if m == nil {
		return nil
	}
	out := make(map[string]Reading, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Reading returns the latest reading of one sensor of a device, without
// copying the others: the positions a map shows ask for the battery of
// thousands of devices at once.
func (s *Store) Reading(device, sensor string) (Reading, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.tm.readings[device][sensor]
	return r, ok
}

// ReportingDevices returns the devices with readings, sorted.
func (s *Store) ReportingDevices() []string {
	s.mu.RLock()
	out := make([]string, 0, len(s.tm.readings))
	for d := range s.tm.readings {
		out = append(out, d)
	}
	s.mu.RUnlock()
	slices.Sort(out)
	return out
}

// Series returns the readings of one sensor of a device taken between from
// and to (both included), oldest first, at most limit (0: all).
func (s *Store) Series(device, sensor string, from, to time.Time, limit int) []Reading {
	if s.opt.History != nil {
		return s.historySeries(device, sensor, from, to, limit)
	}
	prefix := seriesPrefix + device + ":" + escapeSensor(sensor) + ":"
	lo := prefix + nsKey(from)
	hi := prefix + nsKey(to.Add(1))
	var out []Reading
	s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendRange("", lo, hi, func(k, v string) bool {
			ns, err := strconv.ParseInt(k[len(prefix):], 10, 64)
			var p point
			if err != nil || json.Unmarshal([]byte(v), &p) != nil {
				return true
			}
			out = append(out, Reading{Sensor: sensor, Value: p.V, Unit: p.U, Node: p.N, Time: time.Unix(0, ns).UTC()})
			return limit <= 0 || len(out) < limit
		})
	})
	return out
}

// forgetTelemetry drops a device's readings and alarms from memory. s.mu
// is held.
func (s *Store) forgetTelemetry(device string) {
	delete(s.tm.readings, device)
	delete(s.tm.alarms, device)
}

// telemetryKeys are the keys of everything stored about a device's
// readings and alarms.
func telemetryKeys(tx *buntdb.Tx, device string) []string {
	var keys []string
	for _, p := range []string{seriesPrefix, readingKey, alarmPrefix} {
		store.AscendPrefix(tx, p+device+":", func(k, _ string) bool {
			keys = append(keys, k)
			return true
		})
	}
	return keys
}
