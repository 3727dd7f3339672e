package geoloc

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/geohub/geohub/internal/xmlnode"
)

// Reading XEP-0323 <fields/>: what a device may report, and the checks.

// Limits on what a device reports.
const (
	maxSensorName       = 64  // characters in a field name
	maxUnit             = 32  // characters in a unit
	maxNodeID           = 256 // characters in a nodeId
	maxFieldsPerItem    = 100 // fields of any kind in one published item
	maxSensorsPerDevice = 256 // distinct sensors whose latest value is kept
)

// Reading is one numeric value of one sensor of a device.
type Reading struct {
	Sensor string    `json:"sensor"`
	Value  float64   `json:"value"`
	Unit   string    `json:"unit,omitempty"`
	Time   time.Time `json:"time"`           // when it was read (the XEP-0323 timestamp)
	Node   string    `json:"node,omitempty"` // the XEP-0323 nodeId it was reported under, if any
}

// DataError says what is wrong with a sensor data payload and where.
type DataError struct {
	Where string // "timestamp", "numeric 'battery'", ...
	Msg   string
}

func (e *DataError) Error() string { return "sensor data " + e.Where + ": " + e.Msg }

// numericKinds are the XEP-0323 field elements that hold a number. The
// other kinds (boolean, date, dateTime, duration, enum, string, time) are
// counted against the limit and otherwise ignored: thresholds, series and
// the latest values are about numbers, and free text per reading would make
// the memory a device can claim unbounded. They stay in the pubsub item, so
// XMPP subscribers still see them.
var numericKinds = []string{"numeric", "int", "long"}

var otherKinds = []string{"boolean", "date", "dateTime", "duration", "enum", "string", "time"}

// ParseSensorData reads and validates an XEP-0323 <fields/> element:
//
//	<fields xmlns='urn:xmpp:iot:sensordata' seqnr='1' done='true'>
//	  <node nodeId='car-17'>                      (optional)
//	    <timestamp value='2026-11-25T14:03:00Z'>
//	      <numeric name='battery' value='87' unit='%' momentary='true' automaticReadout='true'/>
//
// It returns the numeric readings (numeric, int and long fields), in
// document order; none for an item without them. now is the receive time:
// timestamps follow the XEP-0080 codec's rules (RFC 3339 with a time zone,
// not before 2000, at most a day ahead). The error is a *DataError naming
// the offending element; then nothing is returned.
func ParseSensorData(root *xmlnode.Node, now time.Time) ([]Reading, error) {
	if root.Space != NSSensorData || root.Local != "fields" {
		return nil, &DataError{"element", "not an XEP-0323 fields element"}
	}
	p := sensorParser{now: now, seen: map[string]bool{}}
	for _, c := range root.Children {
		if c.Space != NSSensorData {
			continue // extensions
		}
		switch {
		case c.Local == "node":
			id := c.Attr("nodeId")
			if utf8.RuneCountInString(id) > maxNodeID {
				return nil, &DataError{"node", fmt.Sprintf("nodeId longer than %d characters", maxNodeID)}
			}
			for _, t := range c.Children {
				if t.Space != NSSensorData {
					continue
				}
				if err := p.element(t, id); err != nil {
					return nil, err
				}
			}
		default:
			if err := p.element(c, ""); err != nil {
				return nil, err
			}
		}
	}
	return p.out, nil
}

type sensorParser struct {
	now    time.Time
	out    []Reading
	fields int
	seen   map[string]bool // sensor and time, to refuse two values for one moment
}

// element reads a child of <fields/> or <node/>: a timestamp with fields.
func (p *sensorParser) element(c *xmlnode.Node, node string) error {
	if c.Local != "timestamp" {
		if slices.Contains(numericKinds, c.Local) || slices.Contains(otherKinds, c.Local) {
			return &DataError{c.Local + " " + quote(c.Attr("name")), "must be inside a <timestamp/>"}
		}
		return nil // other XEP-0323 elements are not readings
	}
	t, err := sensorTime(c.Attr("value"), p.now)
	if err != nil {
		return err
	}
	for _, f := range c.Children {
		if f.Space != NSSensorData {
			continue
		}
		numeric := slices.Contains(numericKinds, f.Local)
		if !numeric && !slices.Contains(otherKinds, f.Local) {
			continue
		}
		if p.fields++; p.fields > maxFieldsPerItem {
			return &DataError{"fields", fmt.Sprintf("more than %d fields in one item", maxFieldsPerItem)}
		}
		if !numeric {
			continue
		}
		r, err := readField(f, t, node)
		if err != nil {
			return err
		}
		k := r.Sensor + "\x00" + strconv.FormatInt(t.UnixNano(), 10)
		if p.seen[k] {
			return &DataError{f.Local + " " + quote(r.Sensor), "has two values for " + t.Format(time.RFC3339Nano)}
		}
		p.seen[k] = true
		p.out = append(p.out, r)
	}
	return nil
}

func quote(s string) string { return "'" + s + "'" }

// readField reads a numeric, int or long field.
func readField(f *xmlnode.Node, t time.Time, node string) (Reading, error) {
	name := f.Attr("name")
	where := f.Local + " " + quote(name)
	if err := checkSensorName(name); err != nil {
		return Reading{}, &DataError{where, err.Error()}
	}
	raw, ok := attr(f, "value")
	if !ok {
		return Reading{}, &DataError{where, "has no value"}
	}
	s := strings.TrimSpace(raw)
	var v float64
	if f.Local == "numeric" {
		var err error
		if v, err = strconv.ParseFloat(s, 64); err != nil && !isRangeError(err) {
			return Reading{}, &DataError{where, fmt.Sprintf("%q is not a number", raw)}
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Reading{}, &DataError{where, "must be a finite number"}
		}
	} else {
		bits := 64
		if f.Local == "int" {
			bits = 32
		}
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return Reading{}, &DataError{where, fmt.Sprintf("%q is not a %d-bit integer", raw, bits)}
		}
		v = float64(n)
	}
	unit := f.Attr("unit")
	if f.Local != "numeric" {
		unit = "" // XEP-0323: only numeric fields have a unit
	}
	if utf8.RuneCountInString(unit) > maxUnit || !printable(unit) {
		return Reading{}, &DataError{where, fmt.Sprintf("unit must be at most %d printable characters", maxUnit)}
	}
	return Reading{Sensor: name, Value: v, Unit: unit, Time: t, Node: node}, nil
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// attr is Node.Attr that tells an empty value from a missing one.
func attr(n *xmlnode.Node, local string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Local == local && a.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

// checkSensorName is the rule for a sensor's name: 1 to 64 printable
// characters, no spaces at either end.
func checkSensorName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("needs a name")
	case utf8.RuneCountInString(name) > maxSensorName:
		return fmt.Errorf("name longer than %d characters", maxSensorName)
	case !printable(name) || strings.TrimSpace(name) != name:
		return fmt.Errorf("name must be printable, without spaces at either end")
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}

// sensorTime reads an XEP-0323 timestamp with the rules of the XEP-0080
// codec (see wire.validate). XEP-0323's examples omit the time zone, but a
// time without one is ambiguous, and a wrong guess would misplace every
// reading by hours: it is refused.
func sensorTime(s string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	switch {
	case s == "":
		return time.Time{}, &DataError{"timestamp", "needs a value"}
	case err != nil:
		return time.Time{}, &DataError{"timestamp", fmt.Sprintf("%q is not an RFC 3339 date and time with a time zone", s)}
	case t.Before(earliest):
		return time.Time{}, &DataError{"timestamp", t.Format(time.RFC3339) + " is before 2000: the device clock is not set"}
	case t.After(now.Add(maxFuture)):
		return time.Time{}, &DataError{"timestamp", t.Format(time.RFC3339) + " is more than a day in the future"}
	}
	return t.UTC(), nil
}
