package history

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Reading is one value of a sensor series as stored: the time in
// milliseconds since the Unix epoch, the value exactly as given, its unit
// and the XEP-0323 node that read it, if any.
type Reading struct {
	Time       int64 // Unix milliseconds
	Value      float64
	Unit, Node string
}

// Series names a device's sensor.
type Series struct{ Device, Sensor string }

// seriesBucket holds a bucket per series, named device NUL sensor, so that
// a device's series sort together.
var seriesBucket = []byte("series")

func seriesName(s Series) []byte { return []byte(s.Device + "\x00" + s.Sensor) }

// A series block:
//
//	version byte (1)
//	uvarint      number of readings n
//	column       times (ms), n values (see block.go)
//	byte         value mode: 0 decimal, 1 raw
//	             decimal: one byte k, then a column of value × 10^k, when
//	             every value is such an integer divided by 10^k exactly
//	             (a thermometer's 21.5, a battery's 87)
//	             raw: n uvarints, each value's IEEE bits XOR the previous's
//	uvarint      number of label runs, then per run: unit and node as
//	             uvarint length and bytes, uvarint length of the run
const seriesVersion = 1

const maxDecimals = 9

// decimals returns the smallest k ≤ maxDecimals with every value an
// integer (below 2^53) divided by 10^k exactly, or -1.
func decimals(rs []Reading) int {
	k := 0
	for _, r := range rs {
		for ; k <= maxDecimals; k++ {
			q := math.Round(r.Value * float64(pow10[k]))
			if math.Abs(q) < 1<<53 && q/float64(pow10[k]) == r.Value {
				break
			}
		}
		if k > maxDecimals {
			return -1
		}
	}
	return k
}

func appendSeriesBlock(b []byte, rs []Reading) []byte {
	b = append(b, seriesVersion)
	b = binary.AppendUvarint(b, uint64(len(rs)))
	col := make([]int64, len(rs))
	for i, r := range rs {
		col[i] = r.Time
	}
	b = appendColumn(b, col)
	if k := decimals(rs); k >= 0 {
		b = append(b, 0, byte(k))
		for i, r := range rs {
			col[i] = int64(math.Round(r.Value * float64(pow10[k])))
		}
		b = appendColumn(b, col)
	} else {
		b = append(b, 1)
		var prev uint64
		for _, r := range rs {
			bits := math.Float64bits(r.Value)
			b = binary.AppendUvarint(b, bits^prev)
			prev = bits
		}
	}
	type run struct {
		unit, node string
		n          uint64
	}
	var runs []run
	for _, r := range rs {
		if l := len(runs); l > 0 && runs[l-1].unit == r.Unit && runs[l-1].node == r.Node {
			runs[l-1].n++
			continue
		}
		runs = append(runs, run{r.Unit, r.Node, 1})
	}
	b = binary.AppendUvarint(b, uint64(len(runs)))
	for _, r := range runs {
		for _, s := range []string{r.unit, r.node} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		b = binary.AppendUvarint(b, r.n)
	}
	return b
}

func decodeSeriesBlock(dst []Reading, b []byte) ([]Reading, error) {
	r := reader{b: b}
	if v := r.byte(); v != seriesVersion {
		return dst, fmt.Errorf("%w: series version %d", errCorrupt, v)
	}
	n := int(r.uvarint())
	if r.err != nil || n > len(b) {
		return dst, errCorrupt
	}
	base := len(dst)
	dst = append(dst, make([]Reading, n)...)
	rs := dst[base:]
	col := make([]int64, n)
	r.column(col)
	for i := range rs {
		rs[i].Time = col[i]
	}
	switch r.byte() {
	case 0:
		k := int(r.byte())
		if k > maxDecimals {
			return dst[:base], errCorrupt
		}
		r.column(col)
		for i := range rs {
			rs[i].Value = float64(col[i]) / float64(pow10[k])
		}
	case 1:
		var prev uint64
		for i := range rs {
			prev ^= r.uvarint()
			rs[i].Value = math.Float64frombits(prev)
		}
	default:
		return dst[:base], errCorrupt
	}
	runs := int(r.uvarint())
	at := 0
	for range runs {
		var s [2]string
		for j := range s {
			l := int(r.uvarint())
			if r.err != nil || l > len(r.b) {
				return dst[:base], errCorrupt
			}
			s[j] = string(r.b[:l])
			r.b = r.b[l:]
		}
		l := int(r.uvarint())
		if r.err != nil || l > n-at {
			return dst[:base], errCorrupt
		}
		for i := at; i < at+l; i++ {
			rs[i].Unit, rs[i].Node = s[0], s[1]
		}
		at += l
	}
	if r.err != nil || at != n || len(r.b) != 0 {
		return dst[:base], errCorrupt
	}
	return dst, nil
}
