// Package geoloc is GeoHub's geo engine: the XEP-0080 User Location codec,
// the Position model, and the store of where every device is. It knows
// nothing about XMPP routing, HTTP or MQTT: positions reach it through one
// ingest path, whatever transport carried them.
package geoloc

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/geohub/geohub/internal/xmlnode"
)

// NS is the XEP-0080 namespace, which is also the name of the PEP node.
const NS = "http://jabber.org/protocol/geoloc"

// Geoloc is an XEP-0080 (version 1.10) location. Absent numbers are nil;
// absent strings are empty.
type Geoloc struct {
	Accuracy    *float64   `json:"accuracy,omitempty"`    // horizontal, metres
	Alt         *float64   `json:"alt,omitempty"`         // metres above or below sea level
	AltAccuracy *float64   `json:"altaccuracy,omitempty"` // metres
	Area        string     `json:"area,omitempty"`
	Bearing     *float64   `json:"bearing,omitempty"` // degrees from true north
	Building    string     `json:"building,omitempty"`
	Country     string     `json:"country,omitempty"`
	CountryCode string     `json:"countrycode,omitempty"`
	Datum       string     `json:"datum,omitempty"`
	Description string     `json:"description,omitempty"`
	Floor       string     `json:"floor,omitempty"`
	Lat         *float64   `json:"lat,omitempty"` // degrees, WGS84 unless Datum says otherwise
	Locality    string     `json:"locality,omitempty"`
	Lon         *float64   `json:"lon,omitempty"`
	PostalCode  string     `json:"postalcode,omitempty"`
	Region      string     `json:"region,omitempty"`
	Room        string     `json:"room,omitempty"`
	Speed       *float64   `json:"speed,omitempty"` // metres per second
	Street      string     `json:"street,omitempty"`
	Text        string     `json:"text,omitempty"`
	Timestamp   *time.Time `json:"timestamp,omitempty"`
	TZO         string     `json:"tzo,omitempty"`
	URI         string     `json:"uri,omitempty"`
	Lang        string     `json:"lang,omitempty"` // xml:lang of the element
}

// HasCoordinates reports whether the location is a point.
func (g *Geoloc) HasCoordinates() bool { return g.Lat != nil && g.Lon != nil }

// IsEmpty reports an empty <geoloc/>, which XEP-0080 §4 uses to say the
// entity stopped publishing its location.
func (g *Geoloc) IsEmpty() bool { return *g == Geoloc{} }

// FieldError says which element of a location is wrong and why.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "geoloc " + e.Field + ": " + e.Msg }

// Limits a location must respect to be believed.
const (
	maxText     = 1024           // characters in a text element
	maxAccuracy = 20_000_000     // metres: half the planet
	maxSpeed    = 1500           // m/s: faster than any vehicle this tracks
	minAlt      = -15_000        // metres: below the deepest trench
	maxAlt      = 1_000_000      // metres: above low orbit
	maxFuture   = 24 * time.Hour // a device clock this far ahead is wrong
	errorToM    = 1852.0         // metres per arc minute, for the deprecated <error/>
)

// earliest is the first fix time believed: before it, the clock was unset.
var earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// wire is the element as read, before validation.
type wire struct {
	Lang                                                 string
	Accuracy, Alt, AltAccuracy, Bearing, Error, Lat, Lon *string
	Speed, Timestamp                                     *string
	Area, Building, Country, CountryCode, Datum          string
	Description, Floor, Locality, PostalCode, Region     string
	Room, Street, Text, TZO, URI                         string
}

// Decode reads and validates one <geoloc/> element. now is the receive time,
// used to refuse timestamps from the far future. The error is a *FieldError
// naming the offending element.
func Decode(payload []byte, now time.Time) (Geoloc, error) {
	root, err := xmlnode.Parse(payload, "")
	if err != nil {
		return Geoloc{}, &FieldError{Field: "element", Msg: "not a valid geoloc element"}
	}
	return DecodeNode(root, now)
}

// DecodeNode is Decode for an element already read.
func DecodeNode(root *xmlnode.Node, now time.Time) (Geoloc, error) {
	if root.Space != NS || root.Local != "geoloc" {
		return Geoloc{}, &FieldError{Field: "element", Msg: "not a geoloc element"}
	}
	var w wire
	for _, a := range root.Attrs {
		if a.Space == xmlnode.NSXML && a.Local == "lang" {
			w.Lang = a.Value
		}
	}
	// The element is stored and forwarded as it came, so what it says must be
	// what was checked: each XEP-0080 element once, as plain text, in the
	// XEP-0080 namespace. Other elements are extensions and are ignored.
	seen := map[string]bool{}
	for _, c := range root.Children {
		num, txt := w.number(c.Local), w.text(c.Local)
		if num == nil && txt == nil {
			continue
		}
		switch {
		case c.Space != NS:
			return Geoloc{}, &FieldError{c.Local, "must be in the " + NS + " namespace"}
		case seen[c.Local]:
			return Geoloc{}, &FieldError{c.Local, "appears more than once"}
		case len(c.Children) > 0:
			return Geoloc{}, &FieldError{c.Local, "must hold text only"}
		}
		seen[c.Local] = true
		text := c.Text
		if num != nil {
			*num = &text
		} else {
			*txt = text
		}
	}
	return w.validate(now)
}

// number returns the field of a numeric element (and timestamp), or nil.
func (w *wire) number(name string) **string {
	switch name {
	case "accuracy":
		return &w.Accuracy
	case "alt":
		return &w.Alt
	case "altaccuracy":
		return &w.AltAccuracy
	case "bearing":
		return &w.Bearing
	case "error":
		return &w.Error
	case "lat":
		return &w.Lat
	case "lon":
		return &w.Lon
	case "speed":
		return &w.Speed
	case "timestamp":
		return &w.Timestamp
	}
	return nil
}

// text returns the field of a text element, or nil.
func (w *wire) text(name string) *string {
	switch name {
	case "area":
		return &w.Area
	case "building":
		return &w.Building
	case "country":
		return &w.Country
	case "countrycode":
		return &w.CountryCode
	case "datum":
		return &w.Datum
	case "description":
		return &w.Description
	case "floor":
		return &w.Floor
	case "locality":
		return &w.Locality
	case "postalcode":
		return &w.PostalCode
	case "region":
		return &w.Region
	case "room":
		return &w.Room
	case "street":
		return &w.Street
	case "text":
		return &w.Text
	case "tzo":
		return &w.TZO
	case "uri":
		return &w.URI
	}
	return nil
}

func (w *wire) validate(now time.Time) (Geoloc, error) {
	g := Geoloc{Lang: w.Lang}
	var err error
	num := func(field string, s *string, lo, hi float64) *float64 {
		if s == nil || err != nil {
			return nil
		}
		v, perr := parseDecimal(strings.TrimSpace(*s))
		switch {
		case perr != nil:
			err = &FieldError{field, fmt.Sprintf("%q is not a number", *s)}
		case math.IsNaN(v) || math.IsInf(v, 0):
			err = &FieldError{field, "must be a finite number"}
		case v < lo || v > hi:
			err = &FieldError{field, fmt.Sprintf("%v is out of range [%v, %v]", v, lo, hi)}
		}
		return &v
	}
	g.Lat = num("lat", w.Lat, -90, 90)
	g.Lon = num("lon", w.Lon, -180, 180)
	g.Accuracy = num("accuracy", w.Accuracy, 0, maxAccuracy)
	g.AltAccuracy = num("altaccuracy", w.AltAccuracy, 0, maxAccuracy)
	g.Alt = num("alt", w.Alt, minAlt, maxAlt)
	g.Speed = num("speed", w.Speed, 0, maxSpeed)
	g.Bearing = num("bearing", w.Bearing, 0, 360)
	if g.Accuracy == nil && w.Error != nil {
		// XEP-0080 deprecates <error/> (arc minutes) for <accuracy/> (metres).
		if minutes := num("error", w.Error, 0, maxAccuracy/errorToM); minutes != nil && err == nil {
			m := *minutes * errorToM
			g.Accuracy = &m
		}
	}
	if err != nil {
		return Geoloc{}, err
	}
	if g.Bearing != nil && *g.Bearing == 360 {
		*g.Bearing = 0
	}
	if (g.Lat == nil) != (g.Lon == nil) {
		missing := "lon"
		if g.Lat == nil {
			missing = "lat"
		}
		return Geoloc{}, &FieldError{missing, "a position needs both lat and lon"}
	}
	if w.Timestamp != nil {
		t, terr := time.Parse(time.RFC3339Nano, strings.TrimSpace(*w.Timestamp))
		switch {
		case terr != nil:
			return Geoloc{}, &FieldError{"timestamp", fmt.Sprintf("%q is not an RFC 3339 date and time", *w.Timestamp)}
		case t.Before(earliest):
			return Geoloc{}, &FieldError{"timestamp", t.Format(time.RFC3339) + " is before 2000: the device clock is not set"}
		case t.After(now.Add(maxFuture)):
			return Geoloc{}, &FieldError{"timestamp", t.Format(time.RFC3339) + " is more than a day in the future"}
		}
		t = t.UTC()
		g.Timestamp = &t
	}
	// Checked by name and value, then copied: pointers into g would move
	// it to the heap, once a fix.
	for _, f := range [...]struct{ name, src string }{
		{"area", w.Area}, {"building", w.Building}, {"country", w.Country},
		{"countrycode", w.CountryCode}, {"datum", w.Datum},
		{"description", w.Description}, {"floor", w.Floor},
		{"locality", w.Locality}, {"postalcode", w.PostalCode},
		{"region", w.Region}, {"room", w.Room}, {"street", w.Street},
		{"text", w.Text}, {"tzo", w.TZO}, {"uri", w.URI},
	} {
		if utf8.RuneCountInString(f.src) > maxText {
			return Geoloc{}, &FieldError{f.name, fmt.Sprintf("longer than %d characters", maxText)}
		}
	}
	g.Area, g.Building, g.Country, g.CountryCode, g.Datum = w.Area, w.Building, w.Country, w.CountryCode, w.Datum
	g.Description, g.Floor, g.Locality, g.PostalCode = w.Description, w.Floor, w.Locality, w.PostalCode
	g.Region, g.Room, g.Street, g.Text, g.TZO, g.URI = w.Region, w.Room, w.Street, w.Text, w.TZO, w.URI
	return g, nil
}

// Encode writes g as a <geoloc/> element with its elements in the order
// XEP-0080 lists them.
func (g *Geoloc) Encode() []byte {
	var b bytes.Buffer
	b.WriteString("<geoloc xmlns='" + NS + "'")
	if g.Lang != "" {
		b.WriteString(" xml:lang='")
		xml.EscapeText(&b, []byte(g.Lang))
		b.WriteByte('\'')
	}
	b.WriteByte('>')
	num := func(name string, v *float64) {
		if v != nil {
			b.WriteString("<" + name + ">" + strconv.FormatFloat(*v, 'f', -1, 64) + "</" + name + ">")
		}
	}
	str := func(name, v string) {
		if v != "" {
			b.WriteString("<" + name + ">")
			xml.EscapeText(&b, []byte(v))
			b.WriteString("</" + name + ">")
		}
	}
	num("accuracy", g.Accuracy)
	num("alt", g.Alt)
	num("altaccuracy", g.AltAccuracy)
	str("area", g.Area)
	num("bearing", g.Bearing)
	str("building", g.Building)
	str("country", g.Country)
	str("countrycode", g.CountryCode)
	str("datum", g.Datum)
	str("description", g.Description)
	str("floor", g.Floor)
	num("lat", g.Lat)
	str("locality", g.Locality)
	num("lon", g.Lon)
	str("postalcode", g.PostalCode)
	str("region", g.Region)
	str("room", g.Room)
	num("speed", g.Speed)
	str("street", g.Street)
	str("text", g.Text)
	if g.Timestamp != nil {
		str("timestamp", g.Timestamp.UTC().Format(time.RFC3339Nano))
	}
	str("tzo", g.TZO)
	str("uri", g.URI)
	b.WriteString("</geoloc>")
	return b.Bytes()
}
