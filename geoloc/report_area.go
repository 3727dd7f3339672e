package geoloc

import (
	"fmt"

	"github.com/paulmach/orb"
)

// fenceArea is a fence's shape as an Area, for asking who was inside it.
type fenceArea struct{ f *Fence }

// Area returns the fence's shape as an Area (its edge, without the
// hysteresis), or an error for a proximity fence, which has no place.
func (f *Fence) Area() (Area, error) {
	if f.proximity() {
		return nil, fmt.Errorf("fence %s is around devices, not a place", f.ID)
	}
	return fenceArea{f}, nil
}

// Rects implements Area.
func (a fenceArea) Rects() []Rect {
	b := a.f.shape.bound(0)
	lo, hi := b.Min, b.Max
	switch {
	case lo.Lon() < -180:
		return []Rect{{lo.Lat(), lo.Lon() + 360, hi.Lat(), 180}, {lo.Lat(), -180, hi.Lat(), hi.Lon()}}
	case hi.Lon() > 180:
		return []Rect{{lo.Lat(), lo.Lon(), hi.Lat(), 180}, {lo.Lat(), -180, hi.Lat(), hi.Lon() - 360}}
	}
	return []Rect{{lo.Lat(), lo.Lon(), hi.Lat(), hi.Lon()}}
}

// Contains implements Area.
func (a fenceArea) Contains(lat, lon float64) bool {
	return a.f.shape.signedDistance(orb.Point{lon, lat}) <= 0
}
