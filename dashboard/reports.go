package dashboard

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/labstack/echo/v4"
)

// Reports: trips, stops, daily summaries, time in zones and who was inside
// an area, for one device, a group or every device the viewer sees, over a
// time range. Everything is computed from the trails and the alert log on
// request (geoloc/report*.go); the viewer's visibility applies as
// everywhere: a device they may not see is a 404, a group they are not in
// a 403, and the devices of a group or of "all" are only those they see.

// Bounds on one report: the range, and devices × days, which is what a
// report costs (a device-day at one fix every 5 s is 17,280 fixes).
const (
	maxReportRange      = 31 * 24 * time.Hour
	maxReportDeviceDays = 2000
)

func (s *Server) reportRoutes(user echo.MiddlewareFunc) {
	e := s.e
	e.GET("/api/reports/trips", s.tripsReport, user)
	e.GET("/api/reports/stops", s.stopsReport, user)
	e.GET("/api/reports/summary", s.summaryReport, user)
	e.GET("/api/reports/zones", s.zonesReport, user)
	e.GET("/api/reports/who", s.whoReport, user)
	e.POST("/api/reports/who", s.whoShapeReport, user)
}

// reportRequest is what every report reads from the query.
type reportRequest struct {
	from, to time.Time
	devices  []devices.Account
	opt      geoloc.ReportOptions
	format   string
}

// readReport reads the range, the devices, the thresholds and the format
// (one of formats, the first by default).
func (s *Server) readReport(c echo.Context, formats ...string) (*reportRequest, error) {
	q := &query{c: c}
	r := &reportRequest{}
	r.from, r.to = q.timeRange()
	r.opt = geoloc.ReportOptions{
		StopRadius: q.float("stop_radius", geoloc.DefaultStopRadius, 1, 10_000),
		StopSpeed:  q.float("stop_speed", geoloc.DefaultStopSpeed, 0.01, 100),
		MinStop:    time.Duration(q.float("min_stop", geoloc.DefaultMinStop.Seconds(), 1, 86400) * float64(time.Second)),
		MaxGap:     time.Duration(q.float("max_gap", geoloc.DefaultMaxGap.Seconds(), 1, 7*86400) * float64(time.Second)),
	}
	r.format = cmp.Or(q.str("format"), formats[0])
	if !slices.Contains(formats, r.format) {
		q.fail("format", "%q: want %s", r.format, strings.Join(formats, ", "))
	}
	if q.err == nil && r.to.Sub(r.from) > maxReportRange {
		q.fail("from", "the range is longer than 31 days")
	}
	if q.err != nil {
		return nil, q.err
	}
	var err error
	if r.devices, err = s.reportDevices(c); err != nil {
		return nil, err
	}
	days := int(r.to.Sub(r.from).Hours()/24) + 1
	if len(r.devices)*days > maxReportDeviceDays {
		return nil, apiError(http.StatusBadRequest, "%d devices over %d days is more than %d device-days: narrow the range or the devices",
			len(r.devices), days, maxReportDeviceDays)
	}
	return r, nil
}

// reportDevices are the devices named (device, repeatable: a name or a
// bare JID), of a group (group), or else every device the viewer sees,
// by name.
func (s *Server) reportDevices(c echo.Context) ([]devices.Account, error) {
	v := viewerOf(c)
	names := c.QueryParams()["device"]
	group := strings.TrimSpace(c.QueryParam("group"))
	if len(names) > 0 && group != "" {
		return nil, apiError(http.StatusBadRequest, "give device or group, not both")
	}
	var out []devices.Account
	for _, n := range names {
		local, domain, isJID := strings.Cut(strings.TrimSpace(n), "@")
		a, ok := s.cfg.Accounts.Get(local)
		if !ok || isJID && domain != v.domain || !v.sees(a.Name) || a.Role != devices.RoleDevice {
			return nil, apiError(http.StatusNotFound, "no device %q", n)
		}
		if !slices.ContainsFunc(out, func(b devices.Account) bool { return b.Name == a.Name }) {
			out = append(out, a)
		}
	}
	if len(names) > 0 {
		return out, nil
	}
	if group != "" && !v.admin && !v.inGroup(group) {
		return nil, apiError(http.StatusForbidden, "you are not in group %q", group)
	}
	for _, a := range s.cfg.Accounts.List(devices.Filter{Role: devices.RoleDevice, Group: group}) {
		if v.sees(a.Name) {
			out = append(out, a)
		}
	}
	return out, nil
}

// deviceReport is one device's trips and stops.
type deviceReport struct {
	Device string        `json:"device"` // bare JID
	Name   string        `json:"name"`
	Totals totalsOut     `json:"totals"`
	Trips  *[]tripOut    `json:"trips,omitempty"` // in the trips report, [] when none
	Stops  *[]stopOut    `json:"stops,omitempty"` // in the stops report
	trips  []geoloc.Trip // for GeoJSON and GPX
	stops  []geoloc.Stop
}

type totalsOut struct {
	Distance float64 `json:"distance"` // metres
	Driving  float64 `json:"driving"`  // seconds
	Idle     float64 `json:"idle"`     // seconds
	MaxSpeed float64 `json:"max_speed"`
	Trips    int     `json:"trips"`
	Stops    int     `json:"stops"`
}

type tripOut struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	StartLat float64   `json:"start_lat"`
	StartLon float64   `json:"start_lon"`
	EndLat   float64   `json:"end_lat"`
	EndLon   float64   `json:"end_lon"`
	Distance float64   `json:"distance"` // metres
	Duration float64   `json:"duration"` // seconds
	MaxSpeed float64   `json:"max_speed"`
	AvgSpeed float64   `json:"avg_speed"`
	Fixes    int       `json:"fixes"`
}

type stopOut struct {
	Lat       float64   `json:"lat"`
	Lon       float64   `json:"lon"`
	Arrival   time.Time `json:"arrival"`
	Departure time.Time `json:"departure"`
	Duration  float64   `json:"duration"` // seconds
	Fixes     int       `json:"fixes"`
}

// analyze computes the trips and stops of every device of r.
func (s *Server) analyze(r *reportRequest) []deviceReport {
	out := make([]deviceReport, 0, len(r.devices))
	for _, a := range r.devices {
		jid := s.cfg.Accounts.JID(a.Name)
		trips, stops := geoloc.Analyze(s.cfg.Geo.TrailPoints(jid, r.from, r.to), r.opt)
		d := deviceReport{Device: jid, Name: a.Name, trips: trips, stops: stops}
		for _, t := range trips {
			d.Totals.Distance += t.Distance
			d.Totals.Driving += t.Duration().Seconds()
			d.Totals.MaxSpeed = max(d.Totals.MaxSpeed, t.MaxSpeed)
		}
		for _, st := range stops {
			d.Totals.Idle += st.Duration().Seconds()
		}
		d.Totals.Trips, d.Totals.Stops = len(trips), len(stops)
		d.Totals.Distance = round1(d.Totals.Distance)
		out = append(out, d)
	}
	return out
}

func tripOf(t geoloc.Trip) tripOut {
	return tripOut{Start: t.Start, End: t.End, StartLat: t.StartLat, StartLon: t.StartLon, EndLat: t.EndLat, EndLon: t.EndLon,
		Distance: round1(t.Distance), Duration: t.Duration().Seconds(), MaxSpeed: round1(t.MaxSpeed), AvgSpeed: round1(t.AvgSpeed()), Fixes: len(t.Points)}
}

func stopOf(st geoloc.Stop) stopOut {
	return stopOut{Lat: st.Lat, Lon: st.Lon, Arrival: st.Arrival, Departure: st.Departure, Duration: st.Duration().Seconds(), Fixes: st.Fixes}
}

// round1 keeps a tenth: metres and m/s to more are noise.
func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

type reportOut struct {
	From    time.Time      `json:"from"`
	To      time.Time      `json:"to"`
	Devices []deviceReport `json:"devices"`
}

func (s *Server) tripsReport(c echo.Context) error { return s.tripsOrStops(c, true) }

func (s *Server) stopsReport(c echo.Context) error { return s.tripsOrStops(c, false) }

func (s *Server) tripsOrStops(c echo.Context, trips bool) error {
	r, err := s.readReport(c, "json", "geojson", "csv", "gpx")
	if err != nil {
		return err
	}
	reports := s.analyze(r)
	kind := map[bool]string{true: "trips", false: "stops"}[trips]
	switch r.format {
	case "geojson":
		return c.Blob(http.StatusOK, "application/geo+json", reportGeoJSON(reports, trips, !trips))
	case "csv":
		return download(c, kind, r, "text/csv; charset=utf-8", map[bool]func([]deviceReport) []byte{true: tripsCSV, false: stopsCSV}[trips](reports))
	case "gpx":
		return download(c, kind, r, "application/gpx+xml", reportGPX(reports))
	}
	for i := range reports {
		d := &reports[i]
		if trips {
			list := make([]tripOut, 0, len(d.trips))
			for _, t := range d.trips {
				list = append(list, tripOf(t))
			}
			d.Trips = &list
		} else {
			list := make([]stopOut, 0, len(d.stops))
			for _, st := range d.stops {
				list = append(list, stopOf(st))
			}
			d.Stops = &list
		}
	}
	return c.JSON(http.StatusOK, reportOut{From: r.from, To: r.to, Devices: reports})
}

// download answers a file to save, named after the report and its range.
func download(c echo.Context, kind string, r *reportRequest, contentType string, b []byte) error {
	ext := r.format
	name := fmt.Sprintf("geohub-%s-%s-%s.%s", kind, r.from.UTC().Format("20060102T1504"), r.to.UTC().Format("20060102T1504"), ext)
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	return c.Blob(http.StatusOK, contentType, b)
}

type summaryOut struct {
	Device   string  `json:"device"`
	Name     string  `json:"name"`
	Day      string  `json:"day"`
	Distance float64 `json:"distance"`
	Driving  float64 `json:"driving"`
	Idle     float64 `json:"idle"`
	MaxSpeed float64 `json:"max_speed"`
	Trips    int     `json:"trips"`
	Stops    int     `json:"stops"`
}

// summaryReport answers each device's days in the time zone tz (an IANA
// name, default UTC). A trip across midnight counts in the day it starts.
func (s *Server) summaryReport(c echo.Context) error {
	r, err := s.readReport(c, "json", "csv")
	if err != nil {
		return err
	}
	loc := time.UTC
	if tz := c.QueryParam("tz"); tz != "" {
		if loc, err = time.LoadLocation(tz); err != nil {
			return apiError(http.StatusBadRequest, "tz: %q is not a time zone such as Europe/Berlin", tz)
		}
	}
	out := []summaryOut{}
	for _, d := range s.analyze(r) {
		for _, day := range geoloc.Summarize(d.trips, d.stops, loc) {
			out = append(out, summaryOut{Device: d.Device, Name: d.Name, Day: day.Day, Distance: round1(day.Distance),
				Driving: day.Driving.Seconds(), Idle: day.Idle.Seconds(), MaxSpeed: round1(day.MaxSpeed), Trips: day.Trips, Stops: day.Stops})
		}
	}
	if r.format == "csv" {
		return download(c, "summary", r, "text/csv; charset=utf-8", summaryCSV(out))
	}
	return c.JSON(http.StatusOK, out)
}

type zoneOut struct {
	Device        string  `json:"device"`
	Fence         string  `json:"fence"`
	FenceName     string  `json:"fence_name"`
	Entries       int     `json:"entries"`
	Inside        float64 `json:"inside"` // seconds; 0 when not timed
	InsideAtStart bool    `json:"inside_at_start"`
	Timed         bool    `json:"timed"`
}

// zonesReport answers the time each device spent in each fence the viewer
// reads, from the enter and exit events.
func (s *Server) zonesReport(c echo.Context) error {
	r, err := s.readReport(c, "json", "csv")
	if err != nil {
		return err
	}
	v := viewerOf(c)
	jids := make([]string, len(r.devices))
	for i, a := range r.devices {
		jids[i] = s.cfg.Accounts.JID(a.Name)
	}
	zones, err := s.cfg.Geo.ZoneReport(jids, r.from, r.to)
	if err != nil {
		return err
	}
	out := []zoneOut{}
	for _, z := range zones {
		f, ok := s.cfg.Geo.Fence(z.Fence)
		if !v.admin && !(ok && fenceVisible(v, f)) {
			continue
		}
		out = append(out, zoneOut{Device: z.Device, Fence: z.Fence, FenceName: z.FenceName, Entries: z.Entries,
			Inside: z.Inside.Seconds(), InsideAtStart: z.InsideAtStart, Timed: z.Timed})
	}
	if r.format == "csv" {
		return download(c, "zones", r, "text/csv; charset=utf-8", zonesCSV(out))
	}
	return c.JSON(http.StatusOK, out)
}

type whoOut struct {
	Device      string    `json:"device"`
	Name        string    `json:"name"`
	FirstInside time.Time `json:"first_inside"`
}

// whoReport answers the devices the viewer sees that were inside an area
// between from and to: a fence (fence=ID), a circle (lat, lon, radius) or
// a box (bbox).
func (s *Server) whoReport(c echo.Context) error {
	q := &query{c: c}
	var area geoloc.Area
	fence := "" // the instances of a fleet have the same fences
	switch {
	case q.has("fence"):
		f, ok := s.cfg.Geo.Fence(q.str("fence"))
		if !ok || !fenceVisible(viewerOf(c), f) {
			return apiError(http.StatusNotFound, "no fence %q", q.str("fence"))
		}
		a, err := f.Area()
		if err != nil {
			return apiError(http.StatusBadRequest, "fence: %v", err)
		}
		area, fence = a, f.ID
	case q.has("bbox"):
		box, err := parseBBox(q.str("bbox"))
		if err != nil {
			return apiError(http.StatusBadRequest, "bbox: %v", err)
		}
		area = box
	case q.has("lat") || q.has("lon") || q.has("radius"):
		lat, lon := q.required("lat", -90, 90), q.required("lon", -180, 180)
		radius := q.required("radius", 0, maxRadius)
		if q.err == nil && radius <= 0 {
			q.fail("radius", "must be above 0 metres")
		}
		area = geoloc.Circle{Lat: lat, Lon: lon, Radius: radius}
	default:
		return apiError(http.StatusBadRequest, "give fence, bbox, or lat, lon and radius; POST a GeoJSON polygon for a shape")
	}
	if q.err != nil {
		return q.err
	}
	return s.who(c, fence, area)
}

func (s *Server) whoShapeReport(c echo.Context) error {
	b, err := readBody(c, maxShapeBody)
	if err != nil {
		return err
	}
	g, err := parseArea(b)
	if err != nil {
		return apiError(http.StatusBadRequest, "body: %v", err)
	}
	return s.who(c, "", geoloc.Shape{Geometry: g})
}

// who answers who was inside a fence (by ID) or area, the whole fleet's
// devices when there is one (the GeoHub-Shards header says which
// instances answered).
func (s *Server) who(c echo.Context, fence string, area geoloc.Area) error {
	r, err := s.readReport(c, "json", "csv")
	if err != nil {
		return err
	}
	want := map[string]string{}
	for _, a := range r.devices {
		want[s.cfg.Accounts.JID(a.Name)] = a.Name
	}
	found := s.cfg.Geo.InsideBetween(area, r.from, r.to, func(d string) bool { _, ok := want[d]; return ok })
	if s.cfg.Fleet != nil {
		theirs, statuses := s.cfg.Fleet.InsideBetween(viewerOf(c).jid, fence, area, r.from, r.to)
		for jid, at := range theirs {
			if first, ok := found[jid]; want[jid] != "" && (!ok || at.Before(first)) {
				found[jid] = at
			}
		}
		setShards(c, statuses)
	}
	out := []whoOut{}
	for jid, at := range found {
		out = append(out, whoOut{Device: jid, Name: want[jid], FirstInside: at})
	}
	slices.SortFunc(out, func(a, b whoOut) int {
		return cmp.Or(a.FirstInside.Compare(b.FirstInside), cmp.Compare(a.Device, b.Device))
	})
	if r.format == "csv" {
		return download(c, "who", r, "text/csv; charset=utf-8", whoCSV(out))
	}
	return c.JSON(http.StatusOK, out)
}
