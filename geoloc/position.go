package geoloc

import (
	"time"
)

// Position is one fix of one device: what the geo engine stores and indexes.
type Position struct {
	Device   string    `json:"device"` // bare JID
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Time     time.Time `json:"time"`     // when the fix was taken: the device's timestamp, else Received
	Received time.Time `json:"received"` // when the hub got it
	Source   string    `json:"source"`   // how it came: pep, pubsub/<node>, mqtt, ...
	Geoloc   Geoloc    `json:"geoloc"`   // everything the device said
}

// PositionOf makes the Position of a decoded location, or reports false when
// the location is not a point (an empty or civic-only <geoloc/>).
func PositionOf(device string, g Geoloc, received time.Time, source string) (Position, bool) {
	if !g.HasCoordinates() {
		return Position{}, false
	}
	t := received
	if g.Timestamp != nil {
		t = *g.Timestamp
	}
	return Position{Device: device, Lat: *g.Lat, Lon: *g.Lon, Time: t, Received: received, Source: source, Geoloc: g}, true
}
