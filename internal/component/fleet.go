package component

import (
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/tracking"
)

// The Shard is the rest of the fleet for the application and the
// dashboard (tracking.Fleet): each query goes to every peer at once over
// the instance's link, and a peer that does not answer within Timeout is
// reported missing.

// Nearby implements tracking.Fleet; a peer answers at most maxHits.
func (s *Shard) Nearby(viewer string, lat, lon float64, k int, radius float64) ([]tracking.Remote, []tracking.ShardStatus) {
	return s.gather(query{kind: "nearby", lat: lat, lon: lon, radius: radius, max: min(k, maxHits)}, viewer)
}

// Within implements tracking.Fleet, for a geoloc.Box, Circle or Shape.
func (s *Shard) Within(viewer string, area geoloc.Area) ([]tracking.Remote, []tracking.ShardStatus) {
	return s.gather(query{kind: "within", area: area}, viewer)
}

// Latest implements tracking.Fleet.
func (s *Shard) Latest(viewer, device string) (tracking.Remote, bool, []tracking.ShardStatus) {
	hits, statuses := s.gather(query{kind: "latest", device: device}, viewer)
	var best tracking.Remote
	for _, h := range hits {
		if h.Device == device && h.Time.After(best.Time) {
			best = h
		}
	}
	return best, best.Device != "", statuses
}

// InsideBetween implements tracking.Fleet.
func (s *Shard) InsideBetween(viewer, fence string, area geoloc.Area, from, to time.Time) (map[string]time.Time, []tracking.ShardStatus) {
	hits, statuses := s.gather(query{kind: "who", fence: fence, area: area, from: from, to: to}, viewer)
	out := map[string]time.Time{}
	for _, h := range mergeFirst(hits) {
		out[h.Device] = h.Time
	}
	return out, statuses
}

// Relay implements tracking.Fleet: the alert goes to every peer as it is,
// without waiting; a peer that is down misses it (its own alert nodes
// then lack it; chat alerts are not relayed, the origin sent them).
func (s *Shard) Relay(a tracking.RelayedAlert) {
	for _, peer := range s.Peers {
		b := append([]byte("<message"), attrs(s.Link.Domain(), peer, "")...)
		b = append(b, "><alert xmlns='"+NSShard+"'"...)
		b = xmlesc.Attr(b, "id", a.ID)
		b = xmlesc.Attr(b, "fence", a.Fence)
		b = xmlesc.Attr(b, "device", a.Device)
		b = append(append(append(b, '>'), a.Element...), "</alert></message>"...)
		s.Link.Send(b)
	}
}

// Follow implements tracking.Fleet (live.go).
func (s *Shard) Follow(f func([]tracking.Remote)) (stop func()) { return s.live.follow(f) }
