package dashboard

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/store"
	"github.com/labstack/echo/v4"
)

// deviceOut is an account as /api/devices shows it.
type deviceOut struct {
	Name     string                `json:"name"`
	JID      string                `json:"jid"`
	Role     string                `json:"role"`
	Groups   []string              `json:"groups"`
	Online   bool                  `json:"online"`
	LastSeen *time.Time            `json:"last_seen"`
	Demo     bool                  `json:"demo"`
	MQTT     bool                  `json:"mqtt"` // provisioned by the MQTT bridge
	Position *positionOut          `json:"position"`
	Readings map[string]readingOut `json:"readings"`
	Password string                `json:"password,omitempty"` // once, when made
}

type positionOut struct {
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Time     time.Time `json:"time"`
	Speed    *float64  `json:"speed"`
	Bearing  *float64  `json:"bearing"`
	Accuracy *float64  `json:"accuracy"`
}

type readingOut struct {
	Value float64   `json:"value"`
	Unit  string    `json:"unit"`
	Time  time.Time `json:"time"`
}

func (s *Server) deviceOf(a devices.Account) deviceOut {
	jid := s.cfg.Accounts.JID(a.Name)
	d := deviceOut{Name: a.Name, JID: jid, Role: string(a.Role), Groups: nonNil(a.Groups),
		Online: s.cfg.Accounts.Online(a.Name), Demo: a.Demo, MQTT: a.MQTT, Readings: map[string]readingOut{}}
	if !a.LastSeen.IsZero() {
		t := a.LastSeen
		d.LastSeen = &t
	}
	if p, ok := s.cfg.Geo.Latest(jid); ok {
		d.Position = &positionOut{Lat: p.Lat, Lon: p.Lon, Time: p.Time, Speed: p.Geoloc.Speed, Bearing: p.Geoloc.Bearing, Accuracy: p.Geoloc.Accuracy}
	}
	for name, r := range s.cfg.Geo.Readings(jid) {
		d.Readings[name] = readingOut{Value: r.Value, Unit: r.Unit, Time: r.Time}
	}
	return d
}

// visibleAccount returns the account named in the path, or 404 when it
// does not exist or the viewer may not see it.
func (s *Server) visibleAccount(c echo.Context) (devices.Account, error) {
	name := c.Param("name")
	a, ok := s.cfg.Accounts.Get(name)
	if !ok || !viewerOf(c).sees(a.Name) {
		return devices.Account{}, apiError(http.StatusNotFound, "no device %q", name)
	}
	return a, nil
}

func (s *Server) listDevices(c echo.Context) error {
	q := &query{c: c}
	online := q.bool("online")
	var role devices.Role
	if r := q.str("role"); r != "" {
		var err error
		if role, err = devices.ParseRole(r); err != nil {
			q.fail("role", "%v", err)
		}
	}
	if q.err != nil {
		return q.err
	}
	v := viewerOf(c)
	out := []deviceOut{}
	for _, a := range s.cfg.Accounts.List(devices.Filter{Role: role, Group: q.str("group"), Text: q.str("q")}) {
		if !v.sees(a.Name) || online != nil && s.cfg.Accounts.Online(a.Name) != *online {
			continue
		}
		out = append(out, s.deviceOf(a))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getDevice(c echo.Context) error {
	a, err := s.visibleAccount(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.deviceOf(a))
}

type deviceIn struct {
	Name     string    `json:"name"`
	Groups   *[]string `json:"groups"`
	Role     *string   `json:"role"`
	Password string    `json:"password"` // on create only; empty: generated
}

// accountError maps the account store's errors to answers.
func accountError(err error) error {
	switch {
	case errors.Is(err, devices.ErrNotFound):
		return apiError(http.StatusNotFound, "%v", err)
	case errors.Is(err, devices.ErrExists), errors.Is(err, devices.ErrReserved):
		return apiError(http.StatusConflict, "%v", err)
	case errors.Is(err, store.ErrUnwritable):
		return err // 507
	}
	return apiError(http.StatusBadRequest, "%v", err)
}

func (s *Server) createDevice(c echo.Context) error {
	var in deviceIn
	if err := decodeBody(c, &in, 16<<10); err != nil {
		return err
	}
	if in.Name == "" {
		return apiError(http.StatusBadRequest, "name: required")
	}
	req := devices.NewAccount{Name: in.Name, Password: in.Password}
	if in.Groups != nil {
		req.Groups = *in.Groups
	}
	if in.Role != nil {
		req.Role = devices.Role(*in.Role)
	}
	created, err := s.ops.AddAccounts(req)
	if err != nil {
		return accountError(err)
	}
	d := s.deviceOf(created[0].Account)
	if in.Password == "" {
		d.Password = created[0].Password // the caller chose none: shown this once
	}
	s.log.Info("account created", "account", d.Name, "role", d.Role, "by", viewerOf(c).acct.Name)
	return c.JSON(http.StatusCreated, d)
}

func (s *Server) updateDevice(c echo.Context) error {
	var in deviceIn
	if err := decodeBody(c, &in, 16<<10); err != nil {
		return err
	}
	name := c.Param("name")
	if in.Name != "" {
		return apiError(http.StatusBadRequest, "name: an account cannot be renamed")
	}
	if in.Password != "" {
		return apiError(http.StatusBadRequest, "password: cannot be patched; POST /api/devices/{name}/password makes a new one")
	}
	v := viewerOf(c)
	if a, ok := s.cfg.Accounts.Get(name); ok && a.Name == v.acct.Name && in.Role != nil {
		if r, err := devices.ParseRole(*in.Role); err != nil || r != a.Role || *in.Role == "" {
			return apiError(http.StatusBadRequest, "role: you cannot change your own role")
		}
	}
	a, err := s.cfg.Accounts.Update(name, func(a *devices.Account) error {
		if in.Groups != nil {
			a.Groups = *in.Groups
		}
		if in.Role != nil {
			if *in.Role == "" {
				return errors.New("role: empty (device, operator or admin)")
			}
			a.Role = devices.Role(*in.Role)
		}
		return nil
	})
	if err != nil {
		return accountError(err)
	}
	return c.JSON(http.StatusOK, s.deviceOf(a))
}

func (s *Server) deleteDevice(c echo.Context) error {
	name := c.Param("name")
	if a, ok := s.cfg.Accounts.Get(name); ok && a.Name == viewerOf(c).acct.Name {
		return apiError(http.StatusBadRequest, "you cannot remove your own account")
	}
	if err := s.ops.RemoveAccounts(name); err != nil {
		return accountError(err)
	}
	s.log.Info("account removed", "account", name, "by", viewerOf(c).acct.Name)
	return c.NoContent(http.StatusNoContent)
}

type passwordOut struct {
	Password string `json:"password"`
}

func (s *Server) resetPassword(c echo.Context) error {
	pw, err := s.ops.SetPassword(c.Param("name"), "")
	if err != nil {
		return accountError(err)
	}
	return c.JSON(http.StatusOK, passwordOut{pw})
}

// maxTrailPoints bounds one trail answer; a longer range gets its most
// recent points and "truncated": true.
const maxTrailPoints = 100_000

func (s *Server) trail(c echo.Context) error {
	a, err := s.visibleAccount(c)
	if err != nil {
		return err
	}
	q := &query{c: c}
	from, to := q.timeRange()
	if q.err != nil {
		return q.err
	}
	jid := s.cfg.Accounts.JID(a.Name)
	pts, statuses := s.fleetTrail(c, jid, s.cfg.Geo.TrailPoints(jid, from, to), from, to)
	truncated := len(pts) > maxTrailPoints
	if truncated {
		pts = pts[len(pts)-maxTrailPoints:]
	}
	b := make([]byte, 0, 128+len(pts)*64)
	b = append(b, `{"type":"Feature","id":`...)
	b = appendString(b, jid)
	b = append(b, `,"geometry":{"type":"LineString","coordinates":[`...)
	for i, pt := range pts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendFloat(b, pt.Lon)
		b = append(b, ',')
		b = appendFloat(b, pt.Lat)
		b = append(b, ']')
	}
	b = append(b, `]},"properties":{"device":`...)
	b = appendString(b, jid)
	b = append(b, `,"name":`...)
	b = appendString(b, a.Name)
	b = append(b, `,"truncated":`...)
	b = fmt.Appendf(b, "%t", truncated)
	b = append(b, `,"times":[`...)
	for i, pt := range pts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = pt.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	for _, f := range []struct {
		name string
		v    func(geoloc.TrailPoint) *float64
	}{
		{"speeds", func(p geoloc.TrailPoint) *float64 { return p.Speed }},
		{"bearings", func(p geoloc.TrailPoint) *float64 { return p.Bearing }},
	} {
		b = append(b, `],"`+f.name+`":[`...)
		for i, pt := range pts {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendOptional(b, f.v(pt))
		}
	}
	b = appendShards(append(b, "]}"...), statuses)
	b = append(b, '}')
	return c.Blob(http.StatusOK, "application/geo+json", b)
}

type sensorOut struct {
	Sensor string    `json:"sensor"`
	Unit   string    `json:"unit"`
	Value  float64   `json:"value"`
	Time   time.Time `json:"time"`
}

type seriesOut struct {
	Sensor string     `json:"sensor"`
	Unit   string     `json:"unit"`
	Points []pointOut `json:"points"`
	// Shards: how each instance took part, when the peers were asked.
	Shards map[string]shardOut `json:"shards,omitempty"`
}

type pointOut struct {
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
}

// maxSeriesPoints bounds one series answer.
const maxSeriesPoints = 100_000

func (s *Server) telemetry(c echo.Context) error {
	a, err := s.visibleAccount(c)
	if err != nil {
		return err
	}
	jid := s.cfg.Accounts.JID(a.Name)
	q := &query{c: c}
	sensor := q.str("sensor")
	if sensor == "" {
		if q.has("from") || q.has("to") {
			return apiError(http.StatusBadRequest, "sensor: required with from and to")
		}
		rs := s.cfg.Geo.Readings(jid)
		out := make([]sensorOut, 0, len(rs))
		for _, name := range slices.Sorted(maps.Keys(rs)) {
			r := rs[name]
			out = append(out, sensorOut{Sensor: name, Unit: r.Unit, Value: r.Value, Time: r.Time})
		}
		return c.JSON(http.StatusOK, out)
	}
	from, to := q.timeRange()
	if q.err != nil {
		return q.err
	}
	series, statuses := s.fleetSeries(c, jid, sensor, s.cfg.Geo.Series(jid, sensor, from, to, maxSeriesPoints), from, to)
	series = series[:min(len(series), maxSeriesPoints)]
	out := seriesOut{Sensor: sensor, Points: make([]pointOut, len(series)), Shards: shardsOut(statuses)}
	for i, r := range series {
		out.Points[i] = pointOut{Time: r.Time, Value: r.Value}
		out.Unit = cmp.Or(r.Unit, out.Unit)
	}
	if r, ok := s.cfg.Geo.Reading(jid, sensor); ok && r.Unit != "" {
		out.Unit = r.Unit
	}
	return c.JSON(http.StatusOK, out)
}
