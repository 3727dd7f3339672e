package tracking

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
)

// The report commands: trips and stops of a device over a day, and who was
// inside an area between two times, in short lines with geo: links. Days
// and times are UTC: the hub does not know where the operator is.

func (app *App) cmdTrips(a devices.Account, args []string, trips bool) string {
	verb := map[bool]string{true: "trips", false: "stops"}[trips]
	if len(args) < 1 || len(args) > 2 {
		return fmt.Sprintf("Usage: %s DEVICE [today|yesterday|YYYY-MM-DD]", verb)
	}
	dev := app.deviceJID(args[0])
	if acct, ok := app.accounts.Get(short(dev)); !ok || acct.Role != devices.RoleDevice || !app.mayWatch(a, dev) {
		return fmt.Sprintf("No device %s.", args[0])
	}
	day := "today"
	if len(args) == 2 {
		day = args[1]
	}
	from, err := parseDay(day, time.Now())
	if err != nil {
		return err.Error()
	}
	to := from.AddDate(0, 0, 1).Add(-time.Nanosecond)
	ts, ss := geoloc.Analyze(app.geo.TrailPoints(dev, from, to), geoloc.ReportOptions{})
	head := fmt.Sprintf("%s, %s (UTC)", short(dev), from.Format(time.DateOnly))
	if trips {
		return tripLines(head, ts)
	}
	return stopLines(head, ss)
}

func tripLines(head string, trips []geoloc.Trip) string {
	if len(trips) == 0 {
		return head + ": no trips."
	}
	var dist, top float64
	var driving time.Duration
	lines := []string{""}
	for i, t := range trips {
		dist += t.Distance
		driving += t.Duration()
		top = max(top, t.MaxSpeed)
		if i == maxListed {
			lines = append(lines, fmt.Sprintf("… and %d more.", len(trips)-maxListed))
			continue
		}
		if i > maxListed {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s–%s %s, %s, max %s: geo:%s → geo:%s", hhmm(t.Start), hhmm(t.End), metres(t.Distance),
			span(t.Duration()), kmh(t.MaxSpeed), geoURI(t.StartLat, t.StartLon, nil), geoURI(t.EndLat, t.EndLon, nil)))
	}
	lines[0] = fmt.Sprintf("%s: %d %s, %s, %s driving, max %s", head, len(trips), plural(len(trips), "trip"), metres(dist), span(driving), kmh(top))
	return strings.Join(lines, "\n")
}

func stopLines(head string, stops []geoloc.Stop) string {
	if len(stops) == 0 {
		return head + ": no stops."
	}
	var idle time.Duration
	lines := []string{""}
	for i, s := range stops {
		idle += s.Duration()
		if i == maxListed {
			lines = append(lines, fmt.Sprintf("… and %d more.", len(stops)-maxListed))
		}
		if i >= maxListed {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s–%s (%s) at geo:%s", hhmm(s.Arrival), hhmm(s.Departure), span(s.Duration()), geoURI(round5(s.Lat), round5(s.Lon), nil)))
	}
	lines[0] = fmt.Sprintf("%s: %d %s, %s standing", head, len(stops), plural(len(stops), "stop"), span(idle))
	return strings.Join(lines, "\n")
}

// cmdSummary answers each watched device's day (summary [DAY]), or turns
// the daily summary on or off (summary daily HH:MM|off).
func (app *App) cmdSummary(a devices.Account, args []string) string {
	if len(args) > 0 && strings.EqualFold(args[0], "daily") {
		return app.cmdDailySummary(a, args[1:])
	}
	if len(args) > 1 {
		return "Usage: summary [today|yesterday|YYYY-MM-DD] or summary daily HH:MM|off"
	}
	day := "today"
	if len(args) == 1 {
		day = args[0]
	}
	from, err := parseDay(day, time.Now())
	if err != nil {
		return err.Error()
	}
	return app.summary(a, from)
}

// summary is the day from..+24h of the devices a watches, one line each.
func (app *App) summary(a devices.Account, from time.Time) string {
	to := from.AddDate(0, 0, 1).Add(-time.Nanosecond)
	date := from.Format(time.DateOnly)
	var devs []string
	for _, p := range app.geo.All() {
		if app.mayWatch(a, p.Device) {
			devs = append(devs, p.Device)
		}
	}
	slices.Sort(devs)
	lines := []string{fmt.Sprintf("Summary of %s (UTC; a trip counts in the day it starts):", date)}
	n := 0
	for _, d := range devs {
		trips, stops := geoloc.Analyze(app.geo.TrailPoints(d, from, to), geoloc.ReportOptions{})
		days := geoloc.Summarize(trips, stops, time.UTC)
		i := slices.IndexFunc(days, func(s geoloc.DaySummary) bool { return s.Day == date })
		if i < 0 {
			continue
		}
		if n++; n > maxListed {
			continue
		}
		s := days[i]
		lines = append(lines, fmt.Sprintf("%s: %s in %d %s, %s driving, %s standing, max %s", short(d), metres(s.Distance), s.Trips,
			plural(s.Trips, "trip"), span(s.Driving), span(s.Idle), kmh(s.MaxSpeed)))
	}
	switch {
	case n == 0:
		return fmt.Sprintf("No device you watch drove or stood still on %s.", date)
	case n > maxListed:
		lines = append(lines, fmt.Sprintf("… and %d more; ask trips DEVICE for one.", n-maxListed))
	}
	return strings.Join(lines, "\n")
}

// cmdWho answers who was inside a circle (LAT,LON,RADIUS) or a fence (ID
// or name) between two times.
func (app *App) cmdWho(a devices.Account, args []string) string {
	const usage = "Usage: who LAT,LON,RADIUS FROM TO or who FENCE FROM TO; times as 14:00 (today, UTC), 2025-01-31T14:00 or yesterday/today"
	if len(args) < 3 {
		return usage
	}
	which := strings.Join(args[:len(args)-2], " ")
	t := time.Now()
	from, err := parseWhen(args[len(args)-2], t, false)
	if err != nil {
		return err.Error() + "\n" + usage
	}
	to, err := parseWhen(args[len(args)-1], t, true)
	if err != nil {
		return err.Error() + "\n" + usage
	}
	if !from.Before(to) {
		return fmt.Sprintf("FROM %s is not before TO %s.", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	area, fence, place, err := app.whoArea(a, which)
	if err != nil {
		return err.Error()
	}
	found := app.geo.InsideBetween(area, from, to, func(d string) bool { return app.mayWatch(a, d) })
	missing := ""
	if app.fleet != nil {
		theirs, statuses := app.fleet.InsideBetween(app.accounts.JID(a.Name), fence, area, from, to)
		for d, at := range theirs {
			if first, ok := found[d]; !ok || at.Before(first) {
				found[d] = at
			}
		}
		missing = missingLine(statuses)
	}
	when := fmt.Sprintf("%s–%s UTC", from.Format("2006-01-02 15:04"), to.Format("2006-01-02 15:04"))
	if len(found) == 0 {
		return joinLines(fmt.Sprintf("No device you watch was inside %s %s.", place, when), missing)
	}
	devs := make([]string, 0, len(found))
	for d := range found {
		devs = append(devs, d)
	}
	slices.SortFunc(devs, func(x, y string) int { return found[x].Compare(found[y]) })
	lines := []string{fmt.Sprintf("Inside %s %s: %d %s", place, when, len(devs), plural(len(devs), "device"))}
	for i, d := range devs {
		if i == maxListed {
			lines = append(lines, fmt.Sprintf("… and %d more.", len(devs)-maxListed))
			break
		}
		lines = append(lines, fmt.Sprintf("%s, first at %s", short(d), found[d].Format("2006-01-02 15:04:05")))
	}
	return joinLines(strings.Join(lines, "\n"), missing)
}

// whoArea reads LAT,LON,RADIUS or a fence a may read (then its ID too),
// and names it.
func (app *App) whoArea(a devices.Account, which string) (area geoloc.Area, fence, place string, err error) {
	if parts := strings.Split(strings.TrimPrefix(which, "geo:"), ","); len(parts) == 3 {
		lat, lon, err := parseLatLon(parts[0] + "," + parts[1])
		if err != nil {
			return nil, "", "", err
		}
		r, err := parseRadius(parts[2])
		if err != nil {
			return nil, "", "", err
		}
		return geoloc.Circle{Lat: lat, Lon: lon, Radius: r}, "", fmt.Sprintf("%s of geo:%s", metres(r), geoURI(lat, lon, nil)), nil
	}
	match := app.fencesNamed(a, which)
	switch {
	case len(match) == 0:
		return nil, "", "", fmt.Errorf("No fence %q, and not LAT,LON,RADIUS. Send fences for the list.", which)
	case len(match) > 1:
		return nil, "", "", fmt.Errorf("%d fences are called %q; use the ID.", len(match), which)
	}
	if area, err = match[0].Area(); err != nil {
		return nil, "", "", err
	}
	return area, match[0].ID, match[0].Name, nil
}

// parseDay reads today, yesterday or YYYY-MM-DD as the start of a UTC day.
func parseDay(s string, t time.Time) (time.Time, error) {
	today := t.UTC().Truncate(24 * time.Hour)
	switch strings.ToLower(s) {
	case "today":
		return today, nil
	case "yesterday":
		return today.AddDate(0, 0, -1), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("Day %q: give today, yesterday or a date like 2025-01-31.", s)
	}
	return d, nil
}

// parseWhen reads a time: HH:MM (today, UTC), YYYY-MM-DD (its start, or
// for an end its end), YYYY-MM-DDTHH:MM, RFC 3339, today, yesterday, now.
func parseWhen(s string, t time.Time, end bool) (time.Time, error) {
	if strings.EqualFold(s, "now") {
		return t, nil
	}
	if d, err := parseDay(s, t); err == nil {
		if end {
			return d.AddDate(0, 0, 1), nil
		}
		return d, nil
	}
	if hm, err := time.Parse("15:04", s); err == nil {
		return t.UTC().Truncate(24 * time.Hour).Add(time.Duration(hm.Hour())*time.Hour + time.Duration(hm.Minute())*time.Minute), nil
	}
	for _, layout := range []string{"2006-01-02T15:04", time.RFC3339} {
		if v, err := time.Parse(layout, s); err == nil {
			return v.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("Time %q: give 14:00, 2025-01-31, 2025-01-31T14:00 or now.", s)
}

func hhmm(t time.Time) string { return t.UTC().Format("15:04") }

// span is a duration for people: 35 s, 12 min, 1 h 05 min.
func span(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
}

func kmh(ms float64) string { return fmt.Sprintf("%.0f km/h", ms*3.6) }

func round5(v float64) float64 { return float64(int64(v*1e5+0.5*sign(v))) / 1e5 }

func sign(v float64) float64 {
	if v < 0 {
		return -1
	}
	return 1
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
