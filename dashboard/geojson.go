package dashboard

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/geohub/geohub/geoloc"
)

// Positions go out as GeoJSON written by hand: the map of 10,000 devices is
// the hot answer, and appending bytes is several times faster than
// encoding/json with its reflection and maps of properties.

// batterySensor is the reading shown with each position.
const batterySensor = "battery"

// positionInfo is what a position feature says beyond the fix.
type positionInfo struct {
	name     string
	online   bool
	battery  *float64
	distance *float64 // nearby: metres from the query point
}

// info looks up what a position feature shows of its device.
func (s *Server) info(p *geoloc.Position) positionInfo {
	name, _, _ := strings.Cut(p.Device, "@")
	in := positionInfo{name: name, online: s.cfg.Accounts.Online(name)}
	if r, ok := s.cfg.Geo.Reading(p.Device, batterySensor); ok {
		v := r.Value
		in.battery = &v
	}
	return in
}

// appendPositionFeature writes one device's position as a GeoJSON Point
// Feature whose id is its bare JID.
func appendPositionFeature(b []byte, p *geoloc.Position, in positionInfo) []byte {
	b = append(b, `{"type":"Feature","id":`...)
	b = appendString(b, p.Device)
	b = append(b, `,"geometry":{"type":"Point","coordinates":[`...)
	b = appendFloat(b, p.Lon)
	b = append(b, ',')
	b = appendFloat(b, p.Lat)
	b = append(b, `]},"properties":{"device":`...)
	b = appendString(b, p.Device)
	b = append(b, `,"name":`...)
	b = appendString(b, in.name)
	b = append(b, `,"time":"`...)
	b = p.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","speed":`...)
	b = appendOptional(b, p.Geoloc.Speed)
	b = append(b, `,"bearing":`...)
	b = appendOptional(b, p.Geoloc.Bearing)
	b = append(b, `,"accuracy":`...)
	b = appendOptional(b, p.Geoloc.Accuracy)
	b = append(b, `,"online":`...)
	b = strconv.AppendBool(b, in.online)
	if in.battery != nil {
		b = append(b, `,"battery":`...)
		b = appendFloat(b, *in.battery)
	}
	if in.distance != nil {
		b = append(b, `,"distance":`...)
		b = strconv.AppendFloat(b, *in.distance, 'f', 1, 64)
	}
	return append(b, "}}"...)
}

func appendFloat(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'f', -1, 64) }

func appendOptional(b []byte, v *float64) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return appendFloat(b, *v)
}

// appendString writes s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			// Rare in JIDs: let encoding/json escape it.
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

const (
	fcStart = `{"type":"FeatureCollection","features":[`
	fcEnd   = `]}`
)
