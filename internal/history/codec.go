package history

// codec is what the block store needs to know of a kind of point: its
// time, and how a block of them is encoded. Trails and sensor series share
// everything else (seal.go, read.go, expire.go).
type codec[P any] struct {
	time     func(*P) int64
	quantise func(P) P // as stored; the identity when nothing is lost
	encode   func([]byte, []P) []byte
	decode   func([]P, []byte) ([]P, error)
}

var trailCodec = codec[Point]{
	time:     func(p *Point) int64 { return p.Time },
	quantise: Point.Quantised,
	encode:   appendBlock,
	decode:   decodeBlock,
}

var seriesCodec = codec[Reading]{
	time:     func(r *Reading) int64 { return r.Time },
	quantise: func(r Reading) Reading { return r },
	encode:   appendSeriesBlock,
	decode:   decodeSeriesBlock,
}

// lastTime is the time of a block's last point.
func (c codec[P]) lastTime(v []byte) (int64, error) {
	pts, err := c.decode(nil, v)
	if err != nil || len(pts) == 0 {
		return 0, errCorrupt
	}
	return c.time(&pts[len(pts)-1]), nil
}
