package dashboard

import (
	"net/http"
	"strings"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/tracking"
	"github.com/labstack/echo/v4"
)

// In a sharded deployment (Config.Fleet) the geo answers are the whole
// fleet's: this instance's devices merged with what its peers answered.
// Each says how every instance took part, in the GeoHub-Shards header
// (instance=ok or instance=missing, comma-separated) and, in a GeoJSON
// answer, its "shards" member: {"geo-2.example.com": {"status":
// "missing", "reason": "context deadline exceeded"}, ...}. Without a
// fleet neither is there.

// shardsHeader names the header that lists the instances' statuses.
const shardsHeader = "GeoHub-Shards"

// local makes this instance's positions fleet answers.
func local(ps []geoloc.Position) []tracking.Remote {
	out := make([]tracking.Remote, len(ps))
	for i, p := range ps {
		out[i] = tracking.Remote{Position: p}
	}
	return out
}

// fleetCollection writes hits as a FeatureCollection with the instances'
// statuses; with distances each feature says how far it is.
func (s *Server) fleetCollection(c echo.Context, hits []tracking.Remote, distances bool, statuses []tracking.ShardStatus) error {
	b := make([]byte, 0, 64+len(hits)*320)
	b = append(b, fcStart...)
	for i := range hits {
		h := &hits[i]
		if i > 0 {
			b = append(b, ',')
		}
		in := s.info(&h.Position)
		if h.Instance != "" {
			in = remoteInfo(h)
		}
		if distances {
			in.distance = &h.Distance
		}
		b = appendPositionFeature(b, &h.Position, in)
	}
	b = appendShards(append(b, ']'), statuses)
	b = append(b, '}')
	setShards(c, statuses)
	return c.Blob(http.StatusOK, "application/geo+json", b)
}

// appendShards writes the instances' statuses as a GeoJSON object's
// "shards" member, if any.
func appendShards(b []byte, statuses []tracking.ShardStatus) []byte {
	if statuses == nil {
		return b
	}
	b = append(b, `,"shards":{`...)
	for i, st := range statuses {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, st.Instance)
		b = append(b, `:{"status":`...)
		b = appendString(b, st.Status)
		if st.Reason != "" {
			b = append(b, `,"reason":`...)
			b = appendString(b, st.Reason)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// fleetTrail is a device's trail when this instance does not own it (no
// latest fix, or no points in the range here): what the peers hold of it
// joins what this one does.
func (s *Server) fleetTrail(c echo.Context, jid string, pts []geoloc.TrailPoint, from, to time.Time) ([]geoloc.TrailPoint, []tracking.ShardStatus) {
	if _, mine := s.cfg.Geo.Latest(jid); s.cfg.Fleet == nil || mine && len(pts) > 0 {
		return pts, nil
	}
	theirs, statuses := s.cfg.Fleet.Trail(viewerOf(c).jid, jid, from, to)
	setShards(c, statuses)
	return tracking.MergeTrails(pts, theirs), statuses
}

// fleetSeries is a device's series of a sensor when this instance does
// not own it (no latest reading, or none in the range here), as
// fleetTrail.
func (s *Server) fleetSeries(c echo.Context, jid, sensor string, rs []geoloc.Reading, from, to time.Time) ([]geoloc.Reading, []tracking.ShardStatus) {
	if _, mine := s.cfg.Geo.Reading(jid, sensor); s.cfg.Fleet == nil || mine && len(rs) > 0 {
		return rs, nil
	}
	theirs, statuses := s.cfg.Fleet.Series(viewerOf(c).jid, jid, sensor, from, to, maxSeriesPoints)
	setShards(c, statuses)
	return tracking.MergeSeries(rs, theirs), statuses
}

// shardOut is an instance's status in a JSON answer's "shards" member.
type shardOut struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// shardsOut is the "shards" member of a JSON answer, nil without a fleet.
func shardsOut(statuses []tracking.ShardStatus) map[string]shardOut {
	if statuses == nil {
		return nil
	}
	out := make(map[string]shardOut, len(statuses))
	for _, st := range statuses {
		out[st.Instance] = shardOut{st.Status, st.Reason}
	}
	return out
}

// remoteInfo is what a peer said of its device.
func remoteInfo(h *tracking.Remote) positionInfo {
	name, _, _ := strings.Cut(h.Device, "@")
	return positionInfo{name: name, online: h.Online, battery: h.Battery}
}

// setShards sets the header of the instances' statuses.
func setShards(c echo.Context, statuses []tracking.ShardStatus) {
	if statuses == nil {
		return
	}
	parts := make([]string, len(statuses))
	for i, st := range statuses {
		parts[i] = st.Instance + "=" + st.Status
	}
	c.Response().Header().Set(shardsHeader, strings.Join(parts, ", "))
}

// fleetPositions is positions for a fleet: every instance's devices.
func (s *Server) fleetPositions(c echo.Context) error {
	v := viewerOf(c)
	mine := s.cfg.Geo.Within(tracking.World, v.seesJID)
	theirs, statuses := s.cfg.Fleet.Within(v.jid, tracking.World)
	return s.fleetCollection(c, tracking.Merge(local(mine), theirs), false, statuses)
}
