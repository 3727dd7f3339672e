package firmwaresim

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
)

// checker gathers validation errors, each prefixed with its field path.
type checker []error

func (c *checker) add(path, format string, args ...any) {
	*c = append(*c, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (c checker) err() error { return errors.Join(c...) }

// nonNegative reports a rate or share that is negative or not finite.
func (c *checker) nonNegative(path string, x float64) {
	if !(x >= 0) || math.IsInf(x, 0) {
		c.add(path, "%g: want 0 or more", x)
	}
}

var groupNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

var brokerSchemes = map[string]bool{"tcp": true, "ssl": true, "tls": true, "mqtt": true, "mqtts": true, "ws": true, "wss": true}

// Validate checks a scenario, its defaults filled in, and reports every
// problem with its field path, such as
// "groups[1].movement.box: minLat 52.6 above maxLat 52.5".
func (s *Scenario) Validate() error {
	var v checker
	if s.Duration < 0 {
		v.add("duration", "%v: want 0 (until interrupted) or more", s.Duration)
	}
	if s.Hub.Addr != "" {
		if _, _, err := net.SplitHostPort(s.Hub.Addr); err != nil {
			v.add("hub.addr", "%v", err)
		}
	}
	if b := s.MQTT.Broker; b != "" {
		if u, err := url.Parse(b); err != nil || u.Host == "" || !brokerSchemes[u.Scheme] {
			v.add("mqtt.broker", "%q: want a URL such as tcp://host:1883", b)
		}
	}
	if len(s.Groups) == 0 {
		v.add("groups", "none: a scenario needs at least one group")
	}
	seen := map[string]int{}
	for i := range s.Groups {
		g, p := &s.Groups[i], fmt.Sprintf("groups[%d]", i)
		if j, dup := seen[g.Name]; dup {
			v.add(p+".name", "%q already names groups[%d]", g.Name, j)
		} else if !groupNameRE.MatchString(g.Name) {
			v.add(p+".name", "%q: want letters, digits, '.', '_' or '-'", g.Name)
		}
		seen[g.Name] = i
		if g.Count < 1 {
			v.add(p+".count", "%d: want 1 or more", g.Count)
		}
		if g.Transport != "xmpp" && g.Transport != "mqtt" {
			v.add(p+".transport", "%q: want xmpp or mqtt", g.Transport)
		}
		if g.Interval <= 0 {
			v.add(p+".interval", "%v: want above 0", g.Interval)
		}
		if !(g.Jitter >= 0 && g.Jitter < 1) {
			v.add(p+".jitter", "%g: want 0 up to below 1", g.Jitter)
		}
		g.Movement.validate(&v, p+".movement")
		if g.Telemetry != nil {
			g.Telemetry.validate(&v, p+".telemetry")
		}
		c := g.Chaos
		v.nonNegative(p+".chaos.drop_per_hour", c.DropPerHour)
		v.nonNegative(p+".chaos.pause_per_hour", c.PausePerHour)
		if c.PauseFor < 0 {
			v.add(p+".chaos.pause_for", "%v: want 0 or more", c.PauseFor)
		}
		if !(c.InvalidShare >= 0 && c.InvalidShare <= 1) {
			v.add(p+".chaos.invalid_share", "%g: want 0 to 1", c.InvalidShare)
		}
	}
	return v.err()
}

func (m *MovementSpec) validate(v *checker, p string) {
	if !(m.Speed > 0) || math.IsInf(m.Speed, 0) {
		v.add(p+".speed", "%g: want above 0 (m/s)", m.Speed)
	}
	only := func(field string, set bool, model string) {
		if set && m.Model != model {
			v.add(p+"."+field, "only for model %s", model)
		}
	}
	only("box", m.Box != nil, ModelWalk)
	only("points", m.Points != nil, ModelWaypoints)
	only("file", m.File != "", ModelRoute)
	only("loop", m.Loop, ModelRoute)
	switch m.Model {
	case ModelWalk:
		if len(m.Box) != 4 {
			v.add(p+".box", "want [minLon, minLat, maxLon, maxLat], got %d numbers", len(m.Box))
		} else if err := m.box().Validate(); err != nil {
			v.add(p+".box", "%v", err)
		}
	case ModelWaypoints:
		for i, q := range m.Points {
			if len(q) != 2 {
				v.add(fmt.Sprintf("%s.points[%d]", p, i), "want [lon, lat], got %d numbers", len(q))
				return
			}
		}
		if _, err := newPolyline(m.points(), true); err != nil {
			v.add(p+".points", "%v", err)
		}
	case ModelRoute:
		if m.File == "" {
			v.add(p+".file", "missing: a .geojson or .gpx route")
		}
	case "":
		v.add(p+".model", "missing: want walk, waypoints or route")
	default:
		v.add(p+".model", "%q: want walk, waypoints or route", m.Model)
	}
}
