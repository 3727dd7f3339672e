package history

import "math"

// Point is one trail point as stored: the time in milliseconds since the
// Unix epoch, the position and the optional measures that Has marks.
//
// Storing quantises: times to the millisecond, latitude and longitude to
// 1e-7° (about 1 cm on the ground), speed, bearing, accuracy and altitude
// to 0.01 (m/s, °, m, m). A value with no more decimals than that comes
// back exactly as it went in (52.52 stays 52.52).
type Point struct {
	Time                          int64 // Unix milliseconds
	Lat, Lon                      float64
	Speed, Bearing, Accuracy, Alt float64
	Has                           uint8 // HasSpeed | HasBearing | ...
}

// Bits of Point.Has: which optional measures a point carries.
const (
	HasSpeed uint8 = 1 << iota
	HasBearing
	HasAccuracy
	HasAlt
	optionalFields = 4
)

// Scales of the quantisation: a stored value is round(v * scale).
const (
	degreeScale  = 1e7
	measureScale = 100
)

// optional returns the i-th optional measure (speed, bearing, accuracy,
// altitude).
func (p *Point) optional(i int) *float64 {
	switch i {
	case 0:
		return &p.Speed
	case 1:
		return &p.Bearing
	case 2:
		return &p.Accuracy
	}
	return &p.Alt
}

// Quantised returns p as the store gives it back.
func (p Point) Quantised() Point {
	p.Lat = float64(quantise(p.Lat, degreeScale)) / degreeScale
	p.Lon = float64(quantise(p.Lon, degreeScale)) / degreeScale
	for i := range optionalFields {
		v := p.optional(i)
		if p.Has&(1<<i) == 0 {
			*v = 0
			continue
		}
		*v = float64(quantise(*v, measureScale)) / measureScale
	}
	return p
}

// quantise is round(v * scale), clamped to what an int64 holds so that an
// absurd measure cannot overflow the encoding.
func quantise(v, scale float64) int64 {
	q := math.Round(v * scale)
	switch {
	case q != q: // NaN
		return 0
	case q >= math.MaxInt64/4:
		return math.MaxInt64 / 4
	case q <= math.MinInt64/4:
		return math.MinInt64 / 4
	}
	return int64(q)
}
