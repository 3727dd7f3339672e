package history

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"sync"
)

// A block is a run of one device's points in time order, encoded column by
// column so that each column's regularity shows:
//
//	version byte (1)
//	uvarint      number of points n
//	column       times (ms), n values
//	column       latitudes (1e-7°), n values
//	column       longitudes (1e-7°), n values
//	uvarint      number of presence runs, then per run: Has byte, uvarint length
//	column × 4   speed, bearing, accuracy, altitude (0.01), one value per
//	             point that has it
//
// A column is one byte, then varints: the byte holds in its low 5 bits the
// power of ten k that divides every value (a device reporting whole degrees
// costs no more than one reporting hundredths) and in bit 5 the order: 0
// stores each value's difference from the one before, 1 the difference of
// those differences, which is about 0 for a clock ticking or a vehicle
// moving steadily. The encoder tries both and keeps the shorter. All
// differences are zigzag varints (encoding/binary).
const blockVersion = 1

var errCorrupt = errors.New("history: corrupt block")

// scratchColumns are the columns decodeBlock decodes into on the way to
// points: the sealer decodes every open block it rewrites.
var scratchColumns = sync.Pool{New: func() any { return &Columns{} }}

// appendBlock encodes pts, which are in strictly increasing time order.
func appendBlock(b []byte, pts []Point) []byte {
	b = append(b, blockVersion)
	b = binary.AppendUvarint(b, uint64(len(pts)))
	col := make([]int64, len(pts))
	for i := range pts {
		col[i] = pts[i].Time
	}
	b = appendColumn(b, col)
	for i := range pts {
		col[i] = quantise(pts[i].Lat, degreeScale)
	}
	b = appendColumn(b, col)
	for i := range pts {
		col[i] = quantise(pts[i].Lon, degreeScale)
	}
	b = appendColumn(b, col)
	b = appendPresence(b, pts)
	for f := range optionalFields {
		col = col[:0]
		for i := range pts {
			if pts[i].Has&(1<<f) != 0 {
				col = append(col, quantise(*pts[i].optional(f), measureScale))
			}
		}
		b = appendColumn(b, col)
	}
	return b
}

// appendPresence writes the Has bits as runs: a device sends the same
// fields fix after fix.
func appendPresence(b []byte, pts []Point) []byte {
	var runs [][2]uint64
	for i := range pts {
		if n := len(runs); n > 0 && runs[n-1][0] == uint64(pts[i].Has) {
			runs[n-1][1]++
			continue
		}
		runs = append(runs, [2]uint64{uint64(pts[i].Has), 1})
	}
	b = binary.AppendUvarint(b, uint64(len(runs)))
	for _, r := range runs {
		b = append(b, byte(r[0]))
		b = binary.AppendUvarint(b, r[1])
	}
	return b
}

// appendColumn writes values with the common power of ten taken out, in
// whichever difference order is shorter. It divides vals in place.
func appendColumn(b []byte, vals []int64) []byte {
	k := commonPowerOfTen(vals)
	if k > 0 {
		for i := range vals {
			vals[i] /= pow10[k]
		}
	}
	order := 1
	if diffsSize(vals, 2) < diffsSize(vals, 1) {
		order = 2
	}
	b = append(b, byte(k)|byte(order-1)<<5)
	var prev, prevDelta int64
	for i, v := range vals {
		delta := v - prev
		out := delta
		if order == 2 && i > 1 {
			out = delta - prevDelta
		}
		b = binary.AppendVarint(b, out)
		prev, prevDelta = v, delta
	}
	return b
}

// diffsSize is the bytes vals take as varints of differences of the given
// order (1 or 2): vals[0], then the differences.
func diffsSize(vals []int64, order int) int {
	n := 0
	var prev, prevDelta int64
	for i, v := range vals {
		delta := v - prev
		out := delta
		if order == 2 && i > 1 {
			out = delta - prevDelta
		}
		u := uint64(out<<1) ^ uint64(out>>63) // zigzag, as binary.AppendVarint
		n += (bits.Len64(u|1) + 6) / 7
		prev, prevDelta = v, delta
	}
	return n
}

var pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return
}()

// commonPowerOfTen is the largest k (at most 18) with 10^k dividing every
// value; 0 for no values.
func commonPowerOfTen(vals []int64) int {
	if len(vals) == 0 {
		return 0
	}
	k := len(pow10) - 1
	for _, v := range vals {
		for k > 0 && v%pow10[k] != 0 {
			k--
		}
		if k == 0 {
			break
		}
	}
	return k
}

// decodeBlock appends the points of block b to dst.
func decodeBlock(dst []Point, b []byte) ([]Point, error) {
	c := scratchColumns.Get().(*Columns)
	defer scratchColumns.Put(c)
	if err := c.decode(b); err != nil {
		return dst, err
	}
	for i := range c.Len() {
		dst = append(dst, c.Point(i))
	}
	return dst, nil
}

// reader takes a block apart; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.err = errCorrupt
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

// column fills vals (its length says how many) from a column. It is the
// innermost loop of every read: the bytes are walked by index, and a
// difference of one or two bytes (most of them) is read in place.
func (r *reader) column(vals []int64) {
	h := r.byte()
	k, order2 := int(h&31), h>>5&1 == 1
	if k >= len(pow10) || h>>6 != 0 {
		r.err = errCorrupt
		return
	}
	b, at := r.b, 0
	var prev, delta int64
	for i := range vals {
		var d int64
		switch {
		case at < len(b) && b[at] < 0x80:
			d = int64(b[at]>>1) ^ -int64(b[at]&1) // zigzag, as binary.Varint
			at++
		case at+1 < len(b) && b[at+1] < 0x80:
			u := uint64(b[at]&0x7f) | uint64(b[at+1])<<7
			d = int64(u>>1) ^ -int64(u&1)
			at += 2
		default:
			v, n := binary.Varint(b[at:])
			if n <= 0 {
				r.err = errCorrupt
				return
			}
			d = v
			at += n
		}
		if order2 && i > 1 {
			delta += d
		} else {
			delta = d
		}
		prev += delta
		vals[i] = prev
	}
	r.b = b[at:]
	if m := pow10[k]; m != 1 {
		for i := range vals {
			vals[i] *= m
		}
	}
}
