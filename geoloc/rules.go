package geoloc

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/tidwall/buntdb"
)

// Threshold rules watch one sensor of devices and raise an alert when a
// reading crosses into the alarm range (below or above a threshold). They
// re-arm only once a reading is back past the threshold by the hysteresis,
// so a value hovering at the threshold raises one alert, not one per
// reading. The state of each rule and device is stored, so a restart raises
// no duplicates.
//
// Their alerts are Events like a fence's, handed to the same sink, with the
// rule's ID and name in Fence and FenceName: the alert node of a rule is
// alerts/<rule ID>, beside those of the fences. Rule IDs start with 'r',
// fence IDs with 'f'.

// Keys owned by the rules: rule:<id> is a rule, tst:<device>:<rule> the
// alarm a device is in for a rule (absent when armed).
const (
	rulePrefix  = "rule:"
	alarmPrefix = "tst:"
)

// Threshold event kinds.
const (
	Below = "below" // a reading fell below the rule's Below
	Above = "above" // a reading rose above the rule's Above
)

// Rule is a threshold rule.
type Rule struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Sensor     string    `json:"sensor"`
	Below      *float64  `json:"below,omitempty"` // alarm when a value is less than this
	Above      *float64  `json:"above,omitempty"` // alarm when a value is more than this
	Hysteresis float64   `json:"hysteresis,omitempty"`
	Devices    []string  `json:"devices,omitempty"` // bare JIDs; with Groups empty too, every device
	Groups     []string  `json:"groups,omitempty"`
	Notify     []string  `json:"notify,omitempty"` // JIDs told of each alert
	Created    time.Time `json:"created"`
}

// Validate checks a rule on its own; AddRules calls it.
func (r *Rule) Validate() error {
	r.Name = strings.TrimSpace(r.Name)
	switch {
	case r.Name == "":
		return errors.New("a rule needs a name")
	case utf8.RuneCountInString(r.Name) > 200:
		return errors.New("a rule's name is at most 200 characters")
	}
	if err := checkSensorName(r.Sensor); err != nil {
		return fmt.Errorf("sensor: %w", err)
	}
	if r.Below == nil && r.Above == nil {
		return errors.New("a rule needs a threshold: below, above or both")
	}
	for _, t := range []struct {
		name string
		v    *float64
	}{{"below", r.Below}, {"above", r.Above}} {
		if t.v != nil && (math.IsNaN(*t.v) || math.IsInf(*t.v, 0)) {
			return fmt.Errorf("%s must be a finite number", t.name)
		}
	}
	if r.Below != nil && r.Above != nil && !(*r.Below < *r.Above) {
		return fmt.Errorf("below %v must be less than above %v", *r.Below, *r.Above)
	}
	if !(r.Hysteresis >= 0) || math.IsInf(r.Hysteresis, 0) {
		return fmt.Errorf("hysteresis %v must be a finite number, 0 or more", r.Hysteresis)
	}
	if len(r.Devices) > maxFenceList || len(r.Groups) > maxFenceList || len(r.Notify) > maxFenceList {
		return fmt.Errorf("at most %d devices, groups and notify JIDs each", maxFenceList)
	}
	return nil
}

// Condition is the rule's alarm range for people: "battery < 15".
func (r *Rule) Condition() string {
	var parts []string
	if r.Below != nil {
		parts = append(parts, r.Sensor+" < "+formatNumber(*r.Below))
	}
	if r.Above != nil {
		parts = append(parts, r.Sensor+" > "+formatNumber(*r.Above))
	}
	c := strings.Join(parts, " or ")
	if r.Hysteresis > 0 {
		c += " (±" + formatNumber(r.Hysteresis) + ")"
	}
	return c
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// watches reports whether the rule applies to device, a member of groups.
func (r *Rule) watches(device string, groups []string) bool {
	return watches(r.Devices, r.Groups, device, groups)
}

// step judges value v for a device in alarm state st ("", Below or Above):
// it returns the next state and the event to raise, if any. A value inside
// the other alarm range moves the alarm there at once, whatever the
// hysteresis.
func (r *Rule) step(st string, v float64) (next, kind string) {
	alarm := ""
	switch {
	case r.Below != nil && v < *r.Below:
		alarm = Below
	case r.Above != nil && v > *r.Above:
		alarm = Above
	}
	switch st {
	case Below:
		switch {
		case alarm == Above:
			return Above, Above
		case r.Below == nil || v >= *r.Below+r.Hysteresis:
			return "", ""
		}
		return Below, ""
	case Above:
		switch {
		case alarm == Below:
			return Below, Below
		case r.Above == nil || v <= *r.Above-r.Hysteresis:
			return "", ""
		}
		return Above, ""
	}
	return alarm, alarm
}

// checkRules runs the rules of r's sensor over a device's new latest
// reading, updates and writes the alarm states in tx, and returns the
// events. s.mu is held.
func (s *Store) checkRules(tx *buntdb.Tx, device string, groups []string, r Reading, rules []*Rule) ([]Event, error) {
	var events []Event
	for _, rule := range rules {
		if !rule.watches(device, groups) {
			continue
		}
		st := s.tm.alarms[device][rule.ID]
		next, kind := rule.step(st, r.Value)
		if next != st {
			s.setAlarm(device, rule.ID, next)
			key := alarmPrefix + device + ":" + rule.ID
			if next == "" {
				if err := store.Delete(tx, key); err != nil {
					return nil, err
				}
			} else if _, _, err := tx.Set(key, next, nil); err != nil {
				return nil, err
			}
		}
		if kind == "" {
			continue
		}
		var threshold float64
		if kind == Below {
			threshold = *rule.Below
		} else {
			threshold = *rule.Above
		}
		events = append(events, Event{Kind: kind, Fence: rule.ID, FenceName: rule.Name, Device: device, Time: r.Time,
			Notify: rule.Notify, Sensor: r.Sensor, Value: r.Value, Unit: r.Unit, Threshold: threshold})
	}
	return events, nil
}

// setAlarm records an alarm state in memory; "" is forgotten. s.mu is held.
func (s *Store) setAlarm(device, rule, st string) {
	m := s.tm.alarms[device]
	if st == "" {
		delete(m, rule)
		if len(m) == 0 {
			delete(s.tm.alarms, device)
		}
		return
	}
	if m == nil {
		m = map[string]string{}
		s.tm.alarms[device] = m
	}
	m[rule] = st
}

// loadRules reads the stored rules. s.mu is held or s not yet shared.
func (s *Store) loadRules(tx *buntdb.Tx) error {
	var bad error
	store.AscendPrefix(tx, rulePrefix, func(k, v string) bool {
		r := &Rule{}
		if bad = json.Unmarshal([]byte(v), r); bad != nil {
			bad = fmt.Errorf("%s: %w", k, bad)
			return false
		}
		s.indexRule(r)
		return true
	})
	return bad
}

// loadAlarms reads the alarm states of one device, or of all (device "").
// States of rules that no longer exist are skipped. s.mu is held or s not
// yet shared.
func (s *Store) loadAlarms(tx *buntdb.Tx, device string) {
	prefix := alarmPrefix
	if device != "" {
		prefix += device + ":"
	}
	store.AscendPrefix(tx, prefix, func(k, v string) bool {
		dev, rule, _ := strings.Cut(strings.TrimPrefix(k, alarmPrefix), ":")
		if s.tm.rules[rule] != nil && (v == Below || v == Above) {
			s.setAlarm(dev, rule, v)
		}
		return true
	})
}

// indexRule makes r known to evaluation. s.mu is held.
func (s *Store) indexRule(r *Rule) {
	s.unindexRule(r.ID)
	s.tm.rules[r.ID] = r
	s.tm.bySensor[r.Sensor] = append(s.tm.bySensor[r.Sensor], r)
}

// unindexRule forgets a rule and the alarms of devices for it. s.mu is
// held.
func (s *Store) unindexRule(id string) {
	old := s.tm.rules[id]
	if old == nil {
		return
	}
	delete(s.tm.rules, id)
	rs := slices.DeleteFunc(slices.Clone(s.tm.bySensor[old.Sensor]), func(r *Rule) bool { return r.ID == id })
	if len(rs) == 0 {
		delete(s.tm.bySensor, old.Sensor)
	} else {
		s.tm.bySensor[old.Sensor] = rs
	}
	for dev := range s.tm.alarms {
		s.setAlarm(dev, id, "")
	}
}

func newRuleID() string {
	b := make([]byte, 5)
	rand.Read(b)
	return "r" + hex.EncodeToString(b)
}

// RuleChange tells of a rule added or removed.
type RuleChange struct {
	Rule    *Rule
	Removed bool
}

// WatchRules adds a function called after each change to the rules,
// outside the store's lock.
func (s *Store) WatchRules(w func(RuleChange)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.tm.watch; prev != nil {
		s.tm.watch = func(c RuleChange) { prev(c); w(c) }
		return
	}
	s.tm.watch = w
}

func (s *Store) ruleChanged(c RuleChange) {
	s.mu.RLock()
	w := s.tm.watch
	s.mu.RUnlock()
	if w != nil {
		w(c)
	}
}

// AddRules validates and stores new rules, each with a new ID. check, when
// not nil, vets each rule's devices, groups and notify JIDs against the
// accounts (and may rewrite them, say names to JIDs). It returns the rules
// as stored; on an error none is stored.
func (s *Store) AddRules(rules []*Rule, check func(*Rule) error) ([]*Rule, error) {
	for i, r := range rules {
		err := r.Validate()
		if err == nil && check != nil {
			err = check(r)
		}
		if err != nil {
			name := r.Name
			if name == "" {
				name = fmt.Sprintf("rule %d", i+1)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, r := range rules {
		r.ID, r.Created = newRuleID(), now
	}
	// The memory changes inside the transaction, so that no reading
	// committed in between sees a rule half made.
	err := s.change(func(tx *buntdb.Tx) (func(), error) { return s.saveRules(tx, rules) }, s.reloadRules)
	if err != nil {
		return nil, err
	}
	return rules, nil
}

// ErrNoRule is returned for an unknown rule ID.
var ErrNoRule = errors.New("no such rule")

// RemoveRule deletes a rule and the alarm states of devices for it.
func (s *Store) RemoveRule(id string) error {
	return s.change(func(tx *buntdb.Tx) (func(), error) {
		gone := s.tm.rules[id]
		if gone == nil {
			return nil, refusal{fmt.Errorf("%s: %w", id, ErrNoRule)}
		}
		keys := []string{rulePrefix + id}
		store.AscendPrefix(tx, alarmPrefix, func(k, _ string) bool {
			if strings.HasSuffix(k, ":"+id) {
				keys = append(keys, k)
			}
			return true
		})
		if err := store.Delete(tx, keys...); err != nil {
			return nil, err
		}
		s.unindexRule(id)
		return func() { s.ruleChanged(RuleChange{Rule: gone, Removed: true}) }, nil
	}, s.reloadRules)
}

// reloadRules makes the memory of rules and alarms what the database
// holds, after a failed change.
func (s *Store) reloadRules() {
	s.db.View(func(tx *buntdb.Tx) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.tm.rules = map[string]*Rule{}
		s.tm.bySensor = map[string][]*Rule{}
		s.tm.alarms = map[string]map[string]string{}
		s.loadRules(tx)
		s.loadAlarms(tx, "")
		return nil
	})
}

// Rules returns every rule, by name.
func (s *Store) Rules() []*Rule {
	s.mu.RLock()
	out := make([]*Rule, 0, len(s.tm.rules))
	for _, r := range s.tm.rules {
		out = append(out, r)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Rule) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	return out
}

// Alarms returns, for a rule, the devices now in alarm and which one
// (Below or Above).
func (s *Store) Alarms(rule string) map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]string{}
	for dev, m := range s.tm.alarms {
		if st := m[rule]; st != "" {
			out[dev] = st
		}
	}
	return out
}

// isThreshold reports an event of a threshold rule.
func (e Event) isThreshold() bool { return e.Kind == Below || e.Kind == Above }

// thresholdBody is Body for a threshold event: "car-17 battery 12 % below
// 15 % (Low battery) at 14:03 UTC".
func (e Event) thresholdBody() string {
	name, _, _ := strings.Cut(e.Device, "@")
	return fmt.Sprintf("%s %s %s %s %s (%s) at %s UTC", name, e.Sensor, withUnit(e.Value, e.Unit), e.Kind,
		withUnit(e.Threshold, e.Unit), e.FenceName, e.Time.UTC().Format("15:04"))
}

func withUnit(v float64, unit string) string {
	s := formatNumber(v)
	if unit != "" {
		s += " " + unit
	}
	return s
}

// thresholdElement is Element for a threshold event: the rule, sensor,
// value, unit and threshold as attributes, and the device's latest
// position, when it has one, as an XEP-0080 <geoloc/>.
func (e Event) thresholdElement() []byte {
	b := []byte("<alert xmlns='" + NSAlert + "'")
	b = xmlesc.Attr(b, "id", e.ID)
	b = xmlesc.Attr(b, "event", e.Kind)
	b = xmlesc.Attr(b, "rule", e.Fence)
	b = xmlesc.Attr(b, "rule-name", e.FenceName)
	b = xmlesc.Attr(b, "device", e.Device)
	b = xmlesc.Attr(b, "time", e.Time.UTC().Format(time.RFC3339Nano))
	b = xmlesc.Attr(b, "sensor", e.Sensor)
	b = xmlesc.Attr(b, "value", formatNumber(e.Value))
	if e.Unit != "" {
		b = xmlesc.Attr(b, "unit", e.Unit)
	}
	b = xmlesc.Attr(b, "threshold", formatNumber(e.Threshold))
	return closeAlert(b, e.Position)
}

// saveRules writes rules in tx and indexes them; the function it returns
// tells the watchers, once the write is durable.
func (s *Store) saveRules(tx *buntdb.Tx, rules []*Rule) (func(), error) {
	for _, r := range rules {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if _, _, err := tx.Set(rulePrefix+r.ID, string(b), nil); err != nil {
			return nil, err
		}
	}
	for _, r := range rules {
		s.indexRule(r)
	}
	return func() {
		for _, r := range rules {
			s.ruleChanged(RuleChange{Rule: r})
		}
	}, nil
}
