package mqttbridge

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/tidwall/gjson"
)

// decoded is what one MQTT message carries.
type decoded struct {
	kind     string // location, transition, lwt, json, telemetry: for counters and logs
	name     string // the account name the topic gives, not yet normalized
	geo      *geoloc.Geoloc
	readings []geoloc.Reading
	offline  bool // an OwnTracks last will: the tracker lost its connection
}

// payloadError is a message refused for what it says.
type payloadError struct{ msg string }

func (e *payloadError) Error() string { return e.msg }

func malformed(format string, args ...any) error {
	return &payloadError{fmt.Sprintf(format, args...)}
}

// Reasons to acknowledge a message without storing anything, that are not
// the sender's fault.
var (
	errLooped  = errors.New("published by this bridge")
	errIgnored = errors.New("carries no position or reading")
)

// Limits of what the bridge reads from a message.
const (
	maxPayload  = 64 << 10 // bytes: a location is a few hundred
	maxReadings = 100      // numbers in one telemetry message, as in one XEP-0323 item
)

// object checks that a payload is one JSON object not published by this
// bridge, and returns it.
func object(payload []byte, origin string) (gjson.Result, error) {
	if n, ok := skippedPayload(payload); ok {
		return gjson.Result{}, malformed("payload of %d bytes, more than %d: skipped unread", n, maxPayload)
	}
	if len(payload) > maxPayload {
		return gjson.Result{}, malformed("payload of %d bytes, more than %d", len(payload), maxPayload)
	}
	if !gjson.ValidBytes(payload) {
		return gjson.Result{}, malformed("not valid JSON")
	}
	doc := gjson.ParseBytes(payload)
	if !doc.IsObject() {
		return gjson.Result{}, malformed("not a JSON object")
	}
	if m := doc.Get("_geohub"); m.Exists() && m.String() == origin {
		return gjson.Result{}, errLooped
	}
	return doc, nil
}

// fields reads typed values out of a JSON object; the first wrong one is
// kept in err and the rest are skipped.
type fields struct {
	doc gjson.Result
	err error
}

// get returns the value at path, or false when it is absent or null.
func (f *fields) get(path string) (gjson.Result, bool) {
	if f.err != nil || path == "" {
		return gjson.Result{}, false
	}
	v := f.doc.Get(path)
	return v, v.Exists() && v.Type != gjson.Null
}

// number reads a finite number.
func (f *fields) number(path string) *float64 {
	v, ok := f.get(path)
	if !ok {
		return nil
	}
	if v.Type != gjson.Number {
		f.err = malformed("%s: %s is not a number", path, clip(v.Raw))
		return nil
	}
	n := v.Num
	if math.IsNaN(n) || math.IsInf(n, 0) {
		f.err = malformed("%s: %s is not a finite number", path, clip(v.Raw))
		return nil
	}
	return &n
}

func (f *fields) str(path string) string {
	v, ok := f.get(path)
	if !ok {
		return ""
	}
	if v.Type != gjson.String {
		f.err = malformed("%s: %s is not a string", path, clip(v.Raw))
		return ""
	}
	return v.Str
}

// unixTime reads Unix time: seconds, or milliseconds above 10^11 (which
// as seconds would be the year 5138).
func (f *fields) unixTime(path string) *time.Time {
	n := f.number(path)
	if n == nil {
		return nil
	}
	v, unit := *n, 1e9 // nanoseconds per unit of v
	if v > 1e11 {
		unit = 1e6
	}
	if v <= 0 || v > 1e14 {
		f.err = malformed("%s: %v is not a Unix time", path, *n)
		return nil
	}
	// Whole seconds apart from the rest, so that milliseconds stay exact.
	perSec := 1e9 / unit
	sec := math.Floor(v / perSec)
	t := time.Unix(int64(sec), int64(math.Round((v-sec*perSec)*unit))).UTC()
	return &t
}

// anyTime reads Unix time (a number) or RFC 3339 text.
func (f *fields) anyTime(path string) *time.Time {
	v, ok := f.get(path)
	if !ok {
		return nil
	}
	if v.Type == gjson.String {
		t, err := time.Parse(time.RFC3339Nano, v.Str)
		if err != nil {
			f.err = malformed("%s: %q is not an RFC 3339 time or a Unix time", path, clip(v.Str))
			return nil
		}
		t = t.UTC()
		return &t
	}
	return f.unixTime(path)
}

// position checks the coordinates, which every location needs.
func (f *fields) position(g *geoloc.Geoloc, latPath, lonPath string) {
	g.Lat, g.Lon = f.number(latPath), f.number(lonPath)
	switch {
	case f.err != nil:
	case g.Lat == nil && g.Lon == nil:
		f.err = malformed("no coordinates (%s, %s)", latPath, lonPath)
	case g.Lat == nil:
		f.err = malformed("no %s", latPath)
	case g.Lon == nil:
		f.err = malformed("no %s", lonPath)
	case *g.Lat < -90 || *g.Lat > 90:
		f.err = malformed("%s: %v is out of range [-90, 90]", latPath, *g.Lat)
	case *g.Lon < -180 || *g.Lon > 180:
		f.err = malformed("%s: %v is out of range [-180, 180]", lonPath, *g.Lon)
	}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// decodeOwnTracks reads an OwnTracks message
// (https://owntracks.org/booklet/tech/json/): location, transition and lwt;
// other types carry no position and are ignored.
//
// A location maps to XEP-0080 as lat, lon, tst (timestamp), acc
// (accuracy), alt, vac (altaccuracy), vel (km/h, to speed in m/s), cog
// (bearing); inregions becomes the description and tid, t (trigger) and
// conn the text, as "tid=.. t=.. conn=..". batt is the reading battery
// (%). A transition is a location too, with the region as description and
// "event=enter" or "event=leave" in the text.
func decodeOwnTracks(doc gjson.Result) (decoded, error) {
	f := fields{doc: doc}
	typ := f.str("_type")
	if f.err != nil {
		return decoded{}, f.err
	}
	switch typ {
	case "location", "transition":
	case "lwt":
		return decoded{kind: "lwt", offline: true}, nil
	case "":
		return decoded{}, malformed("no _type")
	default:
		return decoded{}, errIgnored
	}
	d := decoded{kind: typ, geo: &geoloc.Geoloc{}}
	g := d.geo
	f.position(g, "lat", "lon")
	g.Timestamp = f.unixTime("tst")
	g.Accuracy = f.number("acc")
	g.Alt = f.number("alt")
	g.AltAccuracy = f.number("vac")
	if vel := f.number("vel"); vel != nil {
		ms := *vel / 3.6
		g.Speed = &ms
	}
	g.Bearing = f.number("cog")
	var text []string
	if typ == "transition" {
		switch ev := f.str("event"); ev {
		case "enter", "leave":
			text = append(text, "event="+ev)
		default:
			if f.err == nil {
				f.err = malformed("event: %q is neither enter nor leave", clip(ev))
			}
		}
		g.Description = f.str("desc")
	} else if v, ok := f.get("inregions"); ok {
		if !v.IsArray() {
			f.err = malformed("inregions: %s is not a list", clip(v.Raw))
		}
		var regions []string
		for _, r := range v.Array() {
			if r.Type != gjson.String {
				f.err = malformed("inregions: %s is not a region name", clip(r.Raw))
				break
			}
			regions = append(regions, r.Str)
		}
		g.Description = strings.Join(regions, ", ")
	}
	for _, k := range []string{"tid", "t", "conn"} {
		if s := f.str(k); s != "" {
			text = append(text, k+"="+s)
		}
	}
	g.Text = strings.Join(text, " ")
	if batt := f.number("batt"); batt != nil {
		if *batt < 0 || *batt > 100 {
			f.err = malformed("batt: %v is not a percentage", *batt)
		}
		d.readings = []geoloc.Reading{{Sensor: "battery", Value: *batt, Unit: "%"}}
	}
	if f.err != nil {
		return decoded{}, f.err
	}
	return d, nil
}

// decodeJSON reads a generic JSON location with the field mapping m
// (field -> path).
func decodeJSON(doc gjson.Result, m map[string]string) (decoded, error) {
	f := fields{doc: doc}
	d := decoded{kind: "json", geo: &geoloc.Geoloc{}}
	g := d.geo
	f.position(g, m["lat"], m["lon"])
	g.Timestamp = f.anyTime(m["time"])
	g.Accuracy = f.number(m["accuracy"])
	g.Alt = f.number(m["alt"])
	g.AltAccuracy = f.number(m["altaccuracy"])
	g.Speed = f.number(m["speed"])
	g.Bearing = f.number(m["bearing"])
	g.Text = f.str(m["text"])
	if f.err != nil {
		return decoded{}, f.err
	}
	return d, nil
}

// decodeTelemetry reads numeric readings: every member of the object that
// is a number, or an object {"value": n, "unit": "..."}, is a sensor; the
// member timePath (top level) is their time.
func decodeTelemetry(doc gjson.Result, timePath string) (decoded, error) {
	f := fields{doc: doc}
	var at *time.Time
	if timePath != "" {
		at = f.anyTime(timePath)
	}
	d := decoded{kind: "telemetry"}
	doc.ForEach(func(k, v gjson.Result) bool {
		name := k.String()
		if name == timePath || name == "_geohub" || f.err != nil {
			return true
		}
		r := geoloc.Reading{Sensor: name}
		switch {
		case v.Type == gjson.Number:
			r.Value = v.Num
		case v.IsObject() && v.Get("value").Type == gjson.Number:
			r.Value = v.Get("value").Num
			if u := v.Get("unit"); u.Exists() {
				if u.Type != gjson.String {
					f.err = malformed("%s.unit: %s is not a string", name, clip(u.Raw))
					return false
				}
				r.Unit = u.Str
			}
		case v.IsObject() && v.Get("value").Exists():
			f.err = malformed("%s.value: %s is not a number", name, clip(v.Get("value").Raw))
			return false
		default:
			return true // text, flags: not readings
		}
		if math.IsInf(r.Value, 0) {
			f.err = malformed("%s: not a finite number", name)
			return false
		}
		if len(d.readings) == maxReadings {
			f.err = malformed("more than %d readings", maxReadings)
			return false
		}
		d.readings = append(d.readings, r)
		return true
	})
	if f.err != nil {
		return decoded{}, f.err
	}
	if len(d.readings) == 0 {
		return decoded{}, malformed("no numeric readings")
	}
	if at != nil {
		for i := range d.readings {
			d.readings[i].Time = *at
		}
	}
	return d, nil
}

// itemID names the PEP item of a fix or of readings by their time, so that
// a message the broker delivers again replaces its own item.
func itemID(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 36) }
