package firmwaresim

import (
	"math"
	"strconv"
	"time"

	"github.com/geohub/geohub/geoloc"
)

// Namespaces and nodes devices publish on.
const (
	NSGeoloc     = geoloc.NS
	NSSensorData = "urn:xmpp:iot:sensordata"
)

// rounded is f as a GPS receiver reports it, and as it goes on the wire.
func (f Fix) rounded() Fix {
	f.Time = f.Time.UTC().Truncate(time.Millisecond)
	f.Lat, f.Lon = round(f.Lat, 6), round(f.Lon, 6)
	f.Speed, f.Accuracy = round(f.Speed, 1), round(f.Accuracy, 0)
	if f.Bearing = round(f.Bearing, 0); f.Bearing >= 360 {
		f.Bearing = 0
	}
	return f
}

// geolocPayload is a rounded fix as an XEP-0080 <geoloc/>, written by the
// hub's own codec (DESIGN.md lets the simulator share it).
func geolocPayload(f Fix) []byte {
	g := geoloc.Geoloc{Lat: &f.Lat, Lon: &f.Lon, Speed: &f.Speed, Bearing: &f.Bearing, Accuracy: &f.Accuracy, Timestamp: &f.Time}
	return g.Encode()
}

// invalidPayload is a fix no hub may take: a latitude off the Earth.
func invalidPayload(f Fix) []byte {
	return []byte("<geoloc xmlns='" + NSGeoloc + "'><lat>95.5</lat><lon>" + strconv.FormatFloat(f.Lon, 'f', 6, 64) +
		"</lon><timestamp>" + f.Time.UTC().Format(time.RFC3339Nano) + "</timestamp></geoloc>")
}

// sensorPayload is readings as XEP-0323 <fields/>, all read at t.
func sensorPayload(readings []SensorReading, t time.Time, seq int) []byte {
	b := []byte("<fields xmlns='" + NSSensorData + "' seqnr='" + strconv.Itoa(seq) + "' done='true'><timestamp value='")
	b = append(b, t.UTC().Format(time.RFC3339)...)
	b = append(b, "'>"...)
	for _, r := range readings {
		b = append(b, "<numeric name='"...)
		b = append(b, r.Name...) // names come from the simulator: no escaping needed
		b = append(b, "' momentary='true' automaticReadout='true' value='"...)
		b = strconv.AppendFloat(b, round(r.Value, 2), 'f', -1, 64)
		if r.Unit != "" {
			b = append(b, "' unit='"...)
			b = append(b, r.Unit...)
		}
		b = append(b, "'/>"...)
	}
	return append(b, "</timestamp></fields>"...)
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
