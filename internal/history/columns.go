package history

import (
	"fmt"
	"unsafe"
)

// Columns are trail points column by column, as a block is encoded: a
// read decodes each block straight into them, with nothing to allocate
// per point, and the caller converts a whole run at once. Speed, Bearing,
// Accuracy and Alt hold a value for every point, 0 where Has lacks it.
type Columns struct {
	Time                          []int64 // Unix milliseconds
	Lat, Lon                      []float64
	Speed, Bearing, Accuracy, Alt []float64
	Has                           []uint8
	scratch                       []int64 // a column being decoded
}

// columnsPointSize is what a point takes in Columns, for the cache.
const columnsPointSize = int(7*unsafe.Sizeof(float64(0)) + 1)

// Len is the number of points.
func (c *Columns) Len() int { return len(c.Time) }

// Point returns the i-th point.
func (c *Columns) Point(i int) Point {
	return Point{Time: c.Time[i], Lat: c.Lat[i], Lon: c.Lon[i], Speed: c.Speed[i], Bearing: c.Bearing[i],
		Accuracy: c.Accuracy[i], Alt: c.Alt[i], Has: c.Has[i]}
}

// ColumnsOf lays points out as columns.
func ColumnsOf(pts []Point) *Columns {
	c := &Columns{}
	c.resize(len(pts))
	for i, p := range pts {
		c.Time[i], c.Lat[i], c.Lon[i], c.Has[i] = p.Time, p.Lat, p.Lon, p.Has
		for f := range optionalFields {
			(*c.optional(f))[i] = *p.optional(f)
		}
	}
	return c
}

// slice is the points from lo to hi, sharing c's arrays.
func (c *Columns) slice(lo, hi int) *Columns {
	return &Columns{Time: c.Time[lo:hi], Lat: c.Lat[lo:hi], Lon: c.Lon[lo:hi], Speed: c.Speed[lo:hi],
		Bearing: c.Bearing[lo:hi], Accuracy: c.Accuracy[lo:hi], Alt: c.Alt[lo:hi], Has: c.Has[lo:hi]}
}

// optional returns the column of the i-th optional measure (speed,
// bearing, accuracy, altitude), as Point.optional.
func (c *Columns) optional(i int) *[]float64 {
	switch i {
	case 0:
		return &c.Speed
	case 1:
		return &c.Bearing
	case 2:
		return &c.Accuracy
	}
	return &c.Alt
}

// resize makes every column n long, reusing the arrays it has.
func (c *Columns) resize(n int) {
	c.Time = resized(c.Time, n)
	c.Has = resized(c.Has, n)
	c.scratch = resized(c.scratch, n)
	for _, col := range []*[]float64{&c.Lat, &c.Lon, &c.Speed, &c.Bearing, &c.Accuracy, &c.Alt} {
		*col = resized(*col, n)
	}
}

func resized[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// decode replaces c's points with those of block b (the format is in
// block.go).
func (c *Columns) decode(b []byte) error {
	r := reader{b: b}
	if v := r.byte(); v != blockVersion {
		return fmt.Errorf("%w: version %d", errCorrupt, v)
	}
	n := int(r.uvarint())
	if r.err != nil || n > len(b) { // every point takes at least a byte
		return errCorrupt
	}
	c.resize(n)
	r.column(c.Time)
	r.column(c.scratch)
	scale(c.Lat, c.scratch, degreeScale)
	r.column(c.scratch)
	scale(c.Lon, c.scratch, degreeScale)
	runs := int(r.uvarint())
	at := 0
	for range runs {
		has := r.byte()
		l := int(r.uvarint())
		if r.err != nil || l > n-at {
			return errCorrupt
		}
		for i := at; i < at+l; i++ {
			c.Has[i] = has
		}
		at += l
	}
	if at != n {
		return errCorrupt
	}
	for f := range optionalFields {
		bit := uint8(1) << f
		m := 0
		for _, h := range c.Has {
			if h&bit != 0 {
				m++
			}
		}
		col := *c.optional(f)
		r.column(c.scratch[:m])
		scale(col[:m], c.scratch[:m], measureScale)
		if m == n {
			continue
		}
		// Spread the m values over the points that have them, from the
		// end, so that none is overwritten before it moves.
		j := m - 1
		for i := n - 1; i >= 0; i-- {
			if c.Has[i]&bit != 0 {
				col[i] = col[j]
				j--
			} else {
				col[i] = 0
			}
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return errCorrupt
	}
	return nil
}

// scale sets dst[i] to q[i] / s: a quantised value back as a float, as
// Point.Quantised gives it.
func scale(dst []float64, q []int64, s float64) {
	for i, v := range q {
		dst[i] = float64(v) / s
	}
}
