package tracking

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/geohub/geohub/geoloc"
)

// Fleet is the rest of a sharded deployment: several instances serve one
// component domain, each owning its devices' data (internal/component
// implements it). Each query asks every other instance, at once, for what
// viewer (an account's bare JID; accounts are the same on every instance)
// sees there, and returns their devices with how each instance, this one
// included, took part: a peer that does not answer in time is reported
// missing, never silently left out. The caller adds its own devices.
type Fleet interface {
	// Nearby: up to k devices within radius metres (0: any distance) of
	// a point, nearest first.
	Nearby(viewer string, lat, lon float64, k int, radius float64) ([]Remote, []ShardStatus)
	// Within: the devices whose latest fix is in area (World: all).
	Within(viewer string, area geoloc.Area) ([]Remote, []ShardStatus)
	// Latest: one device's latest fix, from whichever instance has it.
	Latest(viewer, device string) (Remote, bool, []ShardStatus)
	// InsideBetween: the devices inside a fence (by ID: fences are the
	// same everywhere) or else area between from and to, with when each
	// was first inside.
	InsideBetween(viewer, fence string, area geoloc.Area, from, to time.Time) (map[string]time.Time, []ShardStatus)
	// Trail: one device's trail points between from and to, oldest
	// first, from whichever instances hold any (its owner; one that
	// owned it before ejabberd re-dealt the devices).
	Trail(viewer, device string, from, to time.Time) ([]geoloc.TrailPoint, []ShardStatus)
	// Series: one device's readings of a sensor between from and to,
	// oldest first, from whichever instances hold any, as Trail; each
	// instance stops after limit readings.
	Series(viewer, device, sensor string, from, to time.Time, limit int) ([]geoloc.Reading, []ShardStatus)
	// Relay hands one of this instance's alerts to the peers, which put
	// it on their alert nodes: an operator subscribed at any instance
	// gets every instance's alerts.
	Relay(a RelayedAlert)
	// Follow calls f with the new positions of the peers' devices until
	// stop is called; f runs on one goroutine and must not block.
	Follow(f func([]Remote)) (stop func())
}

// World is the area of every position.
var World = geoloc.Box{MinLat: -90, MinLon: -180, MaxLat: 90, MaxLon: 180}

// Remote is a device of another instance, with what a map shows of it.
type Remote struct {
	geoloc.Position
	Instance string   // the instance that answered for it; empty: this one
	Distance float64  // Nearby: metres from the point
	Online   bool     // as its own instance knows it
	Battery  *float64 // its battery reading, if any
}

// ShardStatus is how one instance took part in an answer.
type ShardStatus struct {
	Instance string // its own component domain
	Status   string // ok or missing
	Reason   string // why missing
}

// missingLine lists the instances that did not answer, for a chat answer.
func missingLine(statuses []ShardStatus) string {
	var out []string
	for _, s := range statuses {
		if s.Status != "ok" {
			out = append(out, s.Instance+" ("+s.Reason+")")
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "Did not answer in time, so their devices are missing: " + strings.Join(out, ", ")
}

// Merge joins remote devices to local ones: a device once, with its newest
// fix (an instance that owned it before ejabberd re-dealt the devices may
// still know an older one).
func Merge(local, remote []Remote) []Remote {
	best := make(map[string]int, len(local)+len(remote))
	out := make([]Remote, 0, len(local)+len(remote))
	for _, r := range slices.Concat(local, remote) {
		if i, ok := best[r.Device]; ok {
			if r.Time.After(out[i].Time) {
				out[i] = r
			}
			continue
		}
		best[r.Device] = len(out)
		out = append(out, r)
	}
	return out
}

// MergeTrails joins parts of one device's trail, oldest first, a point
// once per time (the parts may overlap).
func MergeTrails(parts ...[]geoloc.TrailPoint) []geoloc.TrailPoint {
	return mergeByTime(parts, func(p geoloc.TrailPoint) time.Time { return p.Time })
}

// MergeSeries joins parts of one device's series of a sensor, as
// MergeTrails.
func MergeSeries(parts ...[]geoloc.Reading) []geoloc.Reading {
	return mergeByTime(parts, func(r geoloc.Reading) time.Time { return r.Time })
}

func mergeByTime[T any](parts [][]T, at func(T) time.Time) []T {
	out := slices.Concat(parts...)
	slices.SortStableFunc(out, func(a, b T) int { return at(a).Compare(at(b)) })
	return slices.CompactFunc(out, func(a, b T) bool { return at(a).Equal(at(b)) })
}

// SortNearest orders hits nearest first and cuts them to k.
func SortNearest(hits []Remote, k int) []Remote {
	slices.SortFunc(hits, func(a, b Remote) int {
		return cmp.Or(cmp.Compare(a.Distance, b.Distance), strings.Compare(a.Device, b.Device))
	})
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

// RelayedAlert is an alert as it travels to the peers: the element the
// alert nodes carry.
type RelayedAlert struct {
	ID, Fence, Device string
	Element           []byte
}

// PublishRelayed puts a peer's alert on this instance's alert nodes, as
// deliverAlert does with its own (the peer sent the chat messages).
func (app *App) PublishRelayed(a RelayedAlert) {
	app.publishAlert(a.ID, a.Fence, a.Device, a.Element)
}
