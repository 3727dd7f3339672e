package geoloc

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// errNotJSON is a number or time JSON cannot hold (NaN, ±Inf, a year past
// 9999); json.Marshal refuses them too.
var errNotJSON = errors.New("position holds a number or time JSON cannot hold")

// appendJSON writes p as json.Marshal does, without reflection: every fix
// writes its device's latest position, and json.Marshal took a tenth of
// the database writer's time.
func (p *Position) appendJSON(b []byte) ([]byte, error) {
	w := jsonWriter{b: append(b, '{')}
	w.str("device", p.Device)
	w.num("lat", p.Lat)
	w.num("lon", p.Lon)
	w.time("time", p.Time)
	w.time("received", p.Received)
	w.str("source", p.Source)
	w.b = append(w.b, `,"geoloc":{`...)
	g := &p.Geoloc
	w.optNum("accuracy", g.Accuracy)
	w.optNum("alt", g.Alt)
	w.optNum("altaccuracy", g.AltAccuracy)
	w.optStr("area", g.Area)
	w.optNum("bearing", g.Bearing)
	w.optStr("building", g.Building)
	w.optStr("country", g.Country)
	w.optStr("countrycode", g.CountryCode)
	w.optStr("datum", g.Datum)
	w.optStr("description", g.Description)
	w.optStr("floor", g.Floor)
	w.optNum("lat", g.Lat)
	w.optStr("locality", g.Locality)
	w.optNum("lon", g.Lon)
	w.optStr("postalcode", g.PostalCode)
	w.optStr("region", g.Region)
	w.optStr("room", g.Room)
	w.optNum("speed", g.Speed)
	w.optStr("street", g.Street)
	w.optStr("text", g.Text)
	if g.Timestamp != nil {
		w.time("timestamp", *g.Timestamp)
	}
	w.optStr("tzo", g.TZO)
	w.optStr("uri", g.URI)
	w.optStr("lang", g.Lang)
	return append(w.b, "}}"...), w.err
}

// jsonWriter appends the members of an object.
type jsonWriter struct {
	b   []byte
	err error
}

func (w *jsonWriter) name(n string) {
	if w.b[len(w.b)-1] != '{' { // not the object's first member
		w.b = append(w.b, ',')
	}
	w.b = append(append(append(w.b, '"'), n...), `":`...)
}

func (w *jsonWriter) str(n, v string) {
	w.name(n)
	if !plainJSON(v) {
		q, _ := json.Marshal(v) // escapes, and replaces invalid UTF-8 as json.Marshal does
		w.b = append(w.b, q...)
		return
	}
	w.b = append(append(append(w.b, '"'), v...), '"')
}

func (w *jsonWriter) optStr(n, v string) {
	if v != "" {
		w.str(n, v)
	}
}

func (w *jsonWriter) num(n string, v float64) {
	w.name(n)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		w.err = errNotJSON
		v = 0
	}
	format, abs := byte('f'), math.Abs(v)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e' // as encoding/json, so no number is hundreds of digits long
	}
	w.b = strconv.AppendFloat(w.b, v, format, -1, 64)
	if n := len(w.b); format == 'e' && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
		w.b[n-2], w.b = w.b[n-1], w.b[:n-1] // 1e-07 as 1e-7, as encoding/json
	}
}

func (w *jsonWriter) optNum(n string, v *float64) {
	if v != nil {
		w.num(n, *v)
	}
}

func (w *jsonWriter) time(n string, t time.Time) {
	w.name(n)
	if y := t.Year(); y < 0 || y > 9999 {
		w.err = errNotJSON
	}
	w.b = append(t.AppendFormat(append(w.b, '"'), time.RFC3339Nano), '"')
}

// plainJSON reports whether s goes into a JSON string as it is: valid
// UTF-8 without quotes, backslashes or control characters (and without the
// characters json.Marshal escapes for HTML, so both write the same).
func plainJSON(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return ascii || utf8.ValidString(s) && !containsLineSeparators(s)
}

// containsLineSeparators reports U+2028 or U+2029, which json.Marshal escapes.
func containsLineSeparators(s string) bool {
	for _, r := range s {
		if r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}
