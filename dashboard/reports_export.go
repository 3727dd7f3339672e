package dashboard

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/geohub/geohub/geoloc"
)

// The report downloads: CSV for spreadsheets, GPX (trips as tracks, stops
// as waypoints) for GPS tools, GeoJSON for maps.

func writeCSV(header []string, rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(rows) // flushes; a bytes.Buffer does not fail
	return b.Bytes()
}

func num(v float64) string     { return strconv.FormatFloat(v, 'f', -1, 64) }
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func tripsCSV(reports []deviceReport) []byte {
	var rows [][]string
	for _, d := range reports {
		for _, t := range d.trips {
			o := tripOf(t)
			rows = append(rows, []string{d.Name, stamp(o.Start), stamp(o.End), num(o.Duration), num(o.Distance), num(o.MaxSpeed), num(o.AvgSpeed),
				num(o.StartLat), num(o.StartLon), num(o.EndLat), num(o.EndLon)})
		}
	}
	return writeCSV([]string{"device", "start", "end", "duration_s", "distance_m", "max_speed_ms", "avg_speed_ms",
		"start_lat", "start_lon", "end_lat", "end_lon"}, rows)
}

func stopsCSV(reports []deviceReport) []byte {
	var rows [][]string
	for _, d := range reports {
		for _, st := range d.stops {
			o := stopOf(st)
			rows = append(rows, []string{d.Name, stamp(o.Arrival), stamp(o.Departure), num(o.Duration), num(o.Lat), num(o.Lon), strconv.Itoa(o.Fixes)})
		}
	}
	return writeCSV([]string{"device", "arrival", "departure", "duration_s", "lat", "lon", "fixes"}, rows)
}

func summaryCSV(days []summaryOut) []byte {
	var rows [][]string
	for _, d := range days {
		rows = append(rows, []string{d.Name, d.Day, num(d.Distance), num(d.Driving), num(d.Idle), num(d.MaxSpeed), strconv.Itoa(d.Trips), strconv.Itoa(d.Stops)})
	}
	return writeCSV([]string{"device", "day", "distance_m", "driving_s", "idle_s", "max_speed_ms", "trips", "stops"}, rows)
}

func zonesCSV(zones []zoneOut) []byte {
	var rows [][]string
	for _, z := range zones {
		rows = append(rows, []string{z.Device, z.Fence, z.FenceName, strconv.Itoa(z.Entries), num(z.Inside),
			strconv.FormatBool(z.InsideAtStart), strconv.FormatBool(z.Timed)})
	}
	return writeCSV([]string{"device", "fence", "fence_name", "entries", "inside_s", "inside_at_start", "timed"}, rows)
}

func whoCSV(who []whoOut) []byte {
	var rows [][]string
	for _, w := range who {
		rows = append(rows, []string{w.Name, w.Device, stamp(w.FirstInside)})
	}
	return writeCSV([]string{"device", "jid", "first_inside"}, rows)
}

// GPX 1.1: waypoints come before tracks.
type gpxDoc struct {
	XMLName xml.Name   `xml:"http://www.topografix.com/GPX/1/1 gpx"`
	Version string     `xml:"version,attr"`
	Creator string     `xml:"creator,attr"`
	Wpts    []gpxPoint `xml:"wpt"`
	Trks    []gpxTrack `xml:"trk"`
}

type gpxPoint struct {
	Lat  float64   `xml:"lat,attr"`
	Lon  float64   `xml:"lon,attr"`
	Time time.Time `xml:"time"`
	Name string    `xml:"name,omitempty"`
	Desc string    `xml:"desc,omitempty"`
}

type gpxTrack struct {
	Name string       `xml:"name"`
	Segs []gpxSegment `xml:"trkseg"`
}

type gpxSegment struct {
	Pts []gpxPoint `xml:"trkpt"`
}

// reportGPX is one track per device, a segment per trip, and a waypoint
// per stop.
func reportGPX(reports []deviceReport) []byte {
	doc := gpxDoc{Version: "1.1", Creator: "GeoHub"}
	for _, d := range reports {
		for _, st := range d.stops {
			doc.Wpts = append(doc.Wpts, gpxPoint{Lat: st.Lat, Lon: st.Lon, Time: st.Arrival.UTC(), Name: d.Name + " stop",
				Desc: fmt.Sprintf("%s–%s UTC, %s", st.Arrival.UTC().Format("2006-01-02 15:04"), st.Departure.UTC().Format("15:04"), st.Duration().Round(time.Second))})
		}
		if len(d.trips) == 0 {
			continue
		}
		trk := gpxTrack{Name: d.Name}
		for _, t := range d.trips {
			seg := gpxSegment{Pts: make([]gpxPoint, len(t.Points))}
			for i, p := range t.Points {
				seg.Pts[i] = gpxPoint{Lat: p.Lat, Lon: p.Lon, Time: p.Time.UTC()}
			}
			trk.Segs = append(trk.Segs, seg)
		}
		doc.Trks = append(doc.Trks, trk)
	}
	b, _ := xml.MarshalIndent(doc, "", " ") // plain structs: nothing fails
	return append([]byte(xml.Header), b...)
}

// reportGeoJSON is a FeatureCollection: each trip a LineString (split
// into a MultiLineString where it crosses the antimeridian, as RFC 7946
// asks), each stop a Point.
func reportGeoJSON(reports []deviceReport, trips, stops bool) []byte {
	b := append([]byte(nil), fcStart...)
	n := 0
	sep := func() {
		if n > 0 {
			b = append(b, ',')
		}
		n++
	}
	for _, d := range reports {
		if trips {
			for _, t := range d.trips {
				sep()
				o := tripOf(t)
				b = append(b, `{"type":"Feature","geometry":`...)
				b = appendTripGeometry(b, t.Points)
				b = fmt.Appendf(b, `,"properties":{"kind":"trip","device":%s,"name":%s,"start":"%s","end":"%s","distance":%s,"duration":%s,"max_speed":%s,"avg_speed":%s}}`,
					appendString(nil, d.Device), appendString(nil, d.Name), stamp(o.Start), stamp(o.End), num(o.Distance), num(o.Duration), num(o.MaxSpeed), num(o.AvgSpeed))
			}
		}
		if stops {
			for _, st := range d.stops {
				sep()
				o := stopOf(st)
				b = fmt.Appendf(b, `{"type":"Feature","geometry":{"type":"Point","coordinates":[%s,%s]},"properties":{"kind":"stop","device":%s,"name":%s,"arrival":"%s","departure":"%s","duration":%s}}`,
					num(o.Lon), num(o.Lat), appendString(nil, d.Device), appendString(nil, d.Name), stamp(o.Arrival), stamp(o.Departure), num(o.Duration))
			}
		}
	}
	return append(b, fcEnd...)
}

// appendTripGeometry writes the trip's line, cut where a step crosses the
// antimeridian, with the crossing point on both sides.
func appendTripGeometry(b []byte, pts []geoloc.TrailPoint) []byte {
	var lines [][][2]float64
	cur := [][2]float64{}
	for i, p := range pts {
		if i > 0 {
			prev := pts[i-1]
			if d := p.Lon - prev.Lon; d > 180 || d < -180 {
				// Where the step meets ±180°, by latitude in proportion.
				edge := 180.0
				if prev.Lon < 0 {
					edge = -180
				}
				span := 360 - math.Abs(d)
				f := math.Abs(edge-prev.Lon) / span
				lat := prev.Lat + (p.Lat-prev.Lat)*f
				cur = append(cur, [2]float64{edge, lat})
				lines = append(lines, cur)
				cur = [][2]float64{{-edge, lat}}
			}
		}
		cur = append(cur, [2]float64{p.Lon, p.Lat})
	}
	lines = append(lines, cur)
	line := func(b []byte, l [][2]float64) []byte {
		b = append(b, '[')
		for i, c := range l {
			if i > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, "[%s,%s]", num(c[0]), num(c[1]))
		}
		return append(b, ']')
	}
	if len(lines) == 1 {
		return append(line(append(b, `{"type":"LineString","coordinates":`...), lines[0]), '}')
	}
	b = append(b, `{"type":"MultiLineString","coordinates":[`...)
	for i, l := range lines {
		if i > 0 {
			b = append(b, ',')
		}
		b = line(b, l)
	}
	return append(b, "]}"...)
}
