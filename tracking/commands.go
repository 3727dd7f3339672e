package tracking

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
)

// Chat commands: an operator or admin who chats with the hub's own JID
// (hub/hubjid.go; the domain too, as before there was one) gets plain-text
// answers, positions as geo: URIs (RFC 5870) that phones open in a map.
// Devices may not use them.

const commandHelp = `Commands:
help — this list
where [DEVICE] — the last position of a device, or of all you watch
near LAT,LON RADIUS — devices within RADIUS of a point (500, 500m, 2km)
near DEVICE RADIUS — devices within RADIUS of a device
fences — the geofences, and which of them alert you
watch FENCE — get the alerts of a fence (its ID or name)
unwatch FENCE — stop them
trips DEVICE [today|yesterday|DATE] — a day's trips (UTC)
stops DEVICE [today|yesterday|DATE] — where it stood still
summary [today|yesterday|DATE] — each device's distance, driving and idle time
summary daily HH:MM|off — get yesterday's summary every day at HH:MM UTC
who LAT,LON,RADIUS|FENCE FROM TO — who was inside, e.g. who depot 02:00 04:00`

// Limits on answers, so that a chat stays readable.
const (
	maxListed = 50
	maxRadius = 1_000_000 // metres
)

// HandleMessage answers a chat command from an operator or admin; devices
// and anyone else are refused. It is the hub's MessageHandler.
func (app *App) HandleMessage(w hub.MessageWriter, m *hub.Message) {
	a, ok := app.accounts.Get(m.Account)
	if !ok || !a.Role.Watches() {
		w.Forbid("chat commands are for operators")
		return
	}
	w.Reply(app.command(a, strings.TrimSpace(m.Body)))
}

// command runs one command line for a and returns the answer.
func (app *App) command(a devices.Account, line string) string {
	verb, rest, _ := strings.Cut(line, " ")
	args := strings.Fields(rest)
	switch strings.ToLower(verb) {
	case "help", "?", "":
		return commandHelp
	case "where":
		return app.cmdWhere(a, args)
	case "near":
		return app.cmdNear(a, args)
	case "fences":
		return app.cmdFences(a)
	case "trips", "stops":
		return app.cmdTrips(a, args, strings.EqualFold(verb, "trips"))
	case "summary":
		return app.cmdSummary(a, args)
	case "who":
		return app.cmdWho(a, args)
	case "watch", "unwatch":
		if len(args) == 0 {
			return "Which fence? Send fences for the list."
		}
		return app.cmdWatch(a, strings.Join(args, " "), strings.EqualFold(verb, "watch"))
	}
	return fmt.Sprintf("Unknown command %q. Send help for the list.", verb)
}

// mayWatch reports whether a sees device (a bare JID): admins see every
// device, operators the devices of their groups.
func (app *App) mayWatch(a devices.Account, device string) bool {
	if a.Role == devices.RoleAdmin {
		return true
	}
	local, domain, _ := strings.Cut(device, "@")
	return domain == app.accounts.Domain() && app.accounts.Peers(a.Name, local)
}

func (app *App) cmdWhere(a devices.Account, args []string) string {
	if len(args) > 1 {
		return "Usage: where [DEVICE]"
	}
	if len(args) == 1 {
		dev := app.deviceJID(args[0])
		p, ok := app.geo.Latest(dev)
		var missing string
		if app.fleet != nil && app.mayWatch(a, dev) {
			// The device may be another instance's (or this one's from
			// before ejabberd re-dealt the devices): the newest fix wins.
			r, found, statuses := app.fleet.Latest(app.accounts.JID(a.Name), dev)
			if found && (!ok || r.Time.After(p.Time)) {
				p, ok = r.Position, true
			}
			missing = missingLine(statuses)
		}
		if !ok || !app.mayWatch(a, dev) {
			return joinLines(fmt.Sprintf("No position of %s.", args[0]), missing)
		}
		return joinLines(describe(p, time.Now()), missing)
	}
	var mine []Remote
	for _, p := range app.geo.All() {
		if app.mayWatch(a, p.Device) {
			mine = append(mine, Remote{Position: p})
		}
	}
	all, missing := mine, ""
	if app.fleet != nil {
		theirs, statuses := app.fleet.Within(app.accounts.JID(a.Name), World)
		all, missing = Merge(mine, theirs), missingLine(statuses)
		slices.SortFunc(all, func(x, y Remote) int { return strings.Compare(x.Device, y.Device) })
	}
	var lines []string
	for i, r := range all {
		if i == maxListed {
			lines = append(lines, fmt.Sprintf("… and %d more; ask for one by name.", len(all)-maxListed))
			break
		}
		lines = append(lines, describe(r.Position, time.Now()))
	}
	if len(all) == 0 {
		lines = append(lines, "No device you watch has a position yet.")
	}
	return joinLines(strings.Join(lines, "\n"), missing)
}

// joinLines adds a line when there is one (what a sharded answer lacks).
func joinLines(answer, more string) string {
	if more == "" {
		return answer
	}
	return answer + "\n" + more
}

func (app *App) cmdNear(a devices.Account, args []string) string {
	if len(args) != 2 {
		return "Usage: near LAT,LON RADIUS or near DEVICE RADIUS, for example near 52.52,13.40 2km"
	}
	radius, err := parseRadius(args[1])
	if err != nil {
		return err.Error()
	}
	lat, lon, err := parseLatLon(args[0])
	from := ""
	if err != nil {
		dev := app.deviceJID(args[0])
		p, ok := app.geo.Latest(dev)
		if app.fleet != nil && app.mayWatch(a, dev) {
			if r, found, _ := app.fleet.Latest(app.accounts.JID(a.Name), dev); found && (!ok || r.Time.After(p.Time)) {
				p, ok = r.Position, true
			}
		}
		if !ok || !app.mayWatch(a, dev) {
			return fmt.Sprintf("%s is neither LAT,LON nor a device with a position.", args[0])
		}
		lat, lon, from = p.Lat, p.Lon, dev
	}
	var hits []Remote
	for _, h := range app.geo.Nearby(lat, lon, maxListed+2, radius, func(d string) bool { return app.mayWatch(a, d) }) {
		hits = append(hits, Remote{Position: h.Position, Distance: h.Distance})
	}
	missing := ""
	if app.fleet != nil {
		theirs, statuses := app.fleet.Nearby(app.accounts.JID(a.Name), lat, lon, maxListed+2, radius)
		hits, missing = Merge(hits, theirs), missingLine(statuses)
	}
	hits = slices.DeleteFunc(SortNearest(hits, maxListed+2), func(r Remote) bool { return r.Device == from })
	place := fmt.Sprintf("%s (geo:%s)", args[0], geoURI(lat, lon, nil))
	if len(hits) == 0 {
		return joinLines(fmt.Sprintf("No device you watch within %s of %s.", metres(radius), place), missing)
	}
	lines := []string{fmt.Sprintf("Within %s of %s:", metres(radius), place)}
	for i, h := range hits {
		if i == maxListed {
			lines = append(lines, "… and more; narrow the radius.")
			break
		}
		lines = append(lines, fmt.Sprintf("%s, %s away: %s", short(h.Device), metres(h.Distance), describe(h.Position, time.Now())))
	}
	return joinLines(strings.Join(lines, "\n"), missing)
}

func (app *App) cmdFences(a devices.Account) string {
	var fences []*geoloc.Fence
	for _, f := range app.geo.Fences() {
		if app.readsFence(a, f) {
			fences = append(fences, f)
		}
	}
	if len(fences) == 0 {
		return "No geofences yet."
	}
	me := app.accounts.JID(a.Name)
	lines := make([]string, 0, len(fences)+1)
	for _, f := range fences {
		mark := "  "
		if slices.Contains(f.Notify, me) {
			mark = "✓ "
		}
		lines = append(lines, fmt.Sprintf("%s%s (%s): %s", mark, f.Name, f.ID, strings.Join(f.Events, ", ")))
	}
	return strings.Join(append(lines, "✓: you get its alerts. Send watch or unwatch with a fence's ID or name."), "\n")
}

func (app *App) cmdWatch(a devices.Account, which string, on bool) string {
	match := app.fencesNamed(a, which)
	switch {
	case len(match) == 0:
		return fmt.Sprintf("No fence %q. Send fences for the list.", which)
	case len(match) > 1:
		return fmt.Sprintf("%d fences are called %q; use the ID.", len(match), which)
	}
	if on && !app.getsFence(a, match[0]) {
		return fmt.Sprintf("You may not watch %s: it alerts about devices outside your groups.", match[0].Name)
	}
	f, err := app.geo.SetNotified(match[0].ID, app.accounts.JID(a.Name), on)
	if err != nil {
		return "Not changed: " + err.Error()
	}
	if on {
		return fmt.Sprintf("You now get the alerts of %s (%s).", f.Name, strings.Join(f.Events, ", "))
	}
	return fmt.Sprintf("You no longer get the alerts of %s.", f.Name)
}

// deviceJID takes a device's name or bare JID.
func (app *App) deviceJID(name string) string {
	if strings.Contains(name, "@") {
		return strings.ToLower(name)
	}
	return app.accounts.JID(strings.ToLower(name))
}

// describe is a position in one line: "car-17 at geo:52.52013,13.40498;u=5,
// 2m ago, 8.5 m/s heading 90°".
func describe(p geoloc.Position, now time.Time) string {
	out := fmt.Sprintf("%s at geo:%s, %s", short(p.Device), geoURI(p.Lat, p.Lon, p.Geoloc.Accuracy), ago(now.Sub(p.Time)))
	if g := p.Geoloc; g.Speed != nil {
		out += fmt.Sprintf(", %.1f m/s", *g.Speed)
		if g.Bearing != nil {
			out += fmt.Sprintf(" heading %.0f°", *g.Bearing)
		}
	}
	return out
}

func geoURI(lat, lon float64, accuracy *float64) string {
	u := strconv.FormatFloat(lat, 'f', -1, 64) + "," + strconv.FormatFloat(lon, 'f', -1, 64)
	if accuracy != nil {
		u += ";u=" + strconv.FormatFloat(*accuracy, 'f', -1, 64)
	}
	return u
}

func short(jid string) string {
	name, _, _ := strings.Cut(jid, "@")
	return name
}

func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func metres(m float64) string {
	if m >= 1000 {
		return strconv.FormatFloat(m/1000, 'f', 1, 64) + " km"
	}
	return strconv.FormatFloat(math.Round(m), 'f', 0, 64) + " m"
}

func parseLatLon(s string) (lat, lon float64, err error) {
	a, b, ok := strings.Cut(strings.TrimPrefix(s, "geo:"), ",")
	if !ok {
		return 0, 0, fmt.Errorf("not LAT,LON")
	}
	if lat, err = strconv.ParseFloat(a, 64); err != nil {
		return 0, 0, err
	}
	if lon, err = strconv.ParseFloat(b, 64); err != nil {
		return 0, 0, err
	}
	if !(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180) {
		return 0, 0, fmt.Errorf("%s is not a point on Earth", s)
	}
	return lat, lon, nil
}

// parseRadius reads 500, 500m or 2km.
func parseRadius(s string) (float64, error) {
	unit := 1.0
	num := strings.ToLower(s)
	switch {
	case strings.HasSuffix(num, "km"):
		unit, num = 1000, strings.TrimSuffix(num, "km")
	case strings.HasSuffix(num, "m"):
		num = strings.TrimSuffix(num, "m")
	}
	r, err := strconv.ParseFloat(num, 64)
	if err != nil || !(r*unit > 0) || r*unit > maxRadius {
		return 0, fmt.Errorf("radius %q: give metres above 0 and up to 1000km, like 500, 500m or 2km.", s)
	}
	return r * unit, nil
}

// fencesNamed returns the fence with ID which, or those called which, that
// a may read: a fence a may not read is answered as one that does not
// exist.
func (app *App) fencesNamed(a devices.Account, which string) []*geoloc.Fence {
	var match []*geoloc.Fence
	for _, f := range app.geo.Fences() {
		if !app.readsFence(a, f) {
			continue
		}
		if f.ID == which {
			return []*geoloc.Fence{f}
		}
		if strings.EqualFold(f.Name, which) {
			match = append(match, f)
		}
	}
	return match
}
