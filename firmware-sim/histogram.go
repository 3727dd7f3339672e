package firmwaresim

import (
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Bucket layout: log-linear over nanoseconds, as in HDR histograms. Values
// below 2^(subBits+1) ns have a bucket each; above, every power of two is
// split into 2^subBits equal buckets, so a bucket is at most 1/128 of its
// lower bound wide and the midpoint that Quantile reports is within 0.4% of
// any value that fell in it. The top octave ends at 2^39 ns (about 9 min);
// longer durations are counted in the last bucket, but Max and Mean still
// see their true value.
const (
	subBits    = 7
	subCount   = 1 << subBits
	topExp     = 38 // highest power of two with its own octave
	maxTracked = 1<<(topExp+1) - 1
	nBuckets   = (topExp-subBits)<<subBits + 2*subCount // bucketOf(maxTracked)+1
)

// bucketOf returns the bucket of v nanoseconds.
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	if v > maxTracked {
		v = maxTracked
	}
	e := bits.Len64(v) - 1
	return (e-subBits)<<subBits + int(v>>(e-subBits))
}

// bucketRange returns the lowest value of bucket i and its width.
func bucketRange(i int) (lo, width uint64) {
	if i < 2*subCount {
		return uint64(i), 1
	}
	e := i>>subBits + subBits - 1
	m := uint64(i&(subCount-1) | subCount)
	return m << (e - subBits), 1 << (e - subBits)
}

// nShards is the number of shards each histogram and counter is split
// into: a power of two, twice GOMAXPROCS at start-up (so that two Ps rarely
// share one), at most 32.
var nShards = shardCount(runtime.GOMAXPROCS(0))

func shardCount(procs int) int {
	n := 1
	for n < 2*procs && n < 32 {
		n <<= 1
	}
	return n
}

// A shardToken names the shard that the goroutine holding it writes to.
// Tokens live in a sync.Pool, whose Get and Put use a per-P cache, so each
// P keeps reusing one token and writes to one shard, and the shard's cache
// lines stay with that CPU. (A random shard per call spreads writes too, but
// every line then bounces between CPUs: measured no faster than one shard.)
// The pool may drop tokens at a GC; they carry no data, and new ones take
// the next index.
type shardToken struct{ i int }

var (
	shardTokens sync.Pool
	nextShard   atomic.Uint32
)

func getShardToken() *shardToken {
	if t, ok := shardTokens.Get().(*shardToken); ok {
		return t
	}
	return &shardToken{i: int(nextShard.Add(1) - 1)}
}

func putShardToken(t *shardToken) { shardTokens.Put(t) }

type histShard struct {
	_       [64]byte // keep the header off the previous shard's last line
	count   atomic.Uint64
	sum     atomic.Uint64 // nanoseconds
	max     atomic.Uint64 // nanoseconds
	_       [40]byte
	buckets [nBuckets]atomic.Uint64
}

// Histogram is a latency histogram with log-linear buckets: about 0.4%
// relative precision from 256 ns to 9 min (values below 256 ns are exact),
// in fixed memory (33 KiB per shard). It is safe for concurrent use; Record
// costs a few atomic additions on the shard of the current P (see
// shardToken), so thousands of goroutines can record into one histogram
// without queuing on a lock or bouncing cache lines between CPUs.
// Readers (Quantile, Count, ...) add the shards up without stopping the
// writers, so a reading taken during a Record may see it in one figure
// (Count) and not yet in another (Mean).
//
// Create histograms with NewHistogram; the zero Histogram is not usable.
type Histogram struct {
	shards []histShard
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return newHistogram(nShards)
}

func newHistogram(shards int) *Histogram {
	return &Histogram{shards: make([]histShard, shards)}
}

// Record adds one observation. Negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	t := getShardToken()
	s := &h.shards[t.i&(len(h.shards)-1)]
	s.buckets[bucketOf(v)].Add(1)
	s.sum.Add(v)
	s.count.Add(1)
	for {
		m := s.max.Load()
		if v <= m || s.max.CompareAndSwap(m, v) {
			break
		}
	}
	putShardToken(t)
}

// Count returns the number of observations recorded.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.shards {
		n += h.shards[i].count.Load()
	}
	return n
}

// Max returns the largest observation, exactly, or 0 if there is none.
func (h *Histogram) Max() time.Duration {
	var m uint64
	for i := range h.shards {
		m = max(m, h.shards[i].max.Load())
	}
	return time.Duration(m)
}

// Mean returns the exact mean of the observations, or 0 if there is none.
func (h *Histogram) Mean() time.Duration {
	var n, sum uint64
	for i := range h.shards {
		n += h.shards[i].count.Load()
		sum += h.shards[i].sum.Load()
	}
	if n == 0 {
		return 0
	}
	return time.Duration(sum / n)
}

// Quantile returns the q-quantile (q in [0, 1]) of the observations: the
// smallest recorded value v such that at least a fraction q of all values
// are <= v, to within the bucket precision (0.4%), and never above Max
// (durations beyond the tracked range of 9 min are reported as Max).
// It returns 0 if there is no observation. Each call adds the shards up
// (some tens of microseconds); it is meant for reports, not hot paths.
func (h *Histogram) Quantile(q float64) time.Duration {
	return h.counts().quantile(q)
}

// Merge adds the observations of o to h. o may be h itself (doubling it).
// Concurrent Records into o during the merge may or may not be included.
func (h *Histogram) Merge(o *Histogram) {
	c := o.counts()
	s := &h.shards[0]
	for i, n := range c.buckets {
		if n != 0 {
			s.buckets[i].Add(n)
		}
	}
	s.sum.Add(c.sum)
	s.count.Add(c.count)
	for {
		m := s.max.Load()
		if c.max <= m || s.max.CompareAndSwap(m, c.max) {
			break
		}
	}
}

// histCounts is a histogram added up over its shards, for reading.
type histCounts struct {
	buckets []uint64
	count   uint64 // sum of buckets, so that quantiles are consistent
	sum     uint64 // nanoseconds
	max     uint64 // nanoseconds
}

func (h *Histogram) counts() *histCounts {
	c := &histCounts{buckets: make([]uint64, nBuckets)}
	for i := range h.shards {
		s := &h.shards[i]
		for j := range s.buckets {
			if n := s.buckets[j].Load(); n != 0 {
				c.buckets[j] += n
				c.count += n
			}
		}
		c.sum += s.sum.Load()
		c.max = max(c.max, s.max.Load())
	}
	return c
}

// since returns the observations in c that were not yet in prev (an
// earlier reading of the same histogram). The window's max is not known
// exactly: it is the top of its highest non-empty bucket, capped at c.max.
func (c *histCounts) since(prev *histCounts) *histCounts {
	if prev == nil {
		return c
	}
	w := &histCounts{buckets: make([]uint64, nBuckets)}
	top := -1
	for i := range c.buckets {
		if c.buckets[i] > prev.buckets[i] {
			w.buckets[i] = c.buckets[i] - prev.buckets[i]
			w.count += w.buckets[i]
			top = i
		}
	}
	if c.sum > prev.sum {
		w.sum = c.sum - prev.sum
	}
	if top >= 0 {
		lo, width := bucketRange(top)
		w.max = min(lo+width-1, c.max)
	}
	return w
}

func (c *histCounts) quantile(q float64) time.Duration {
	if c.count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(c.count)))
	rank = min(max(rank, 1), c.count)
	var seen uint64
	for i, n := range c.buckets {
		seen += n
		if seen >= rank {
			if i == nBuckets-1 {
				return time.Duration(c.max) // beyond the tracked range
			}
			lo, width := bucketRange(i)
			return time.Duration(min(lo+width/2, c.max))
		}
	}
	return time.Duration(c.max) // not reached: count is the sum of buckets
}

func (c *histCounts) mean() time.Duration {
	if c.count == 0 {
		return 0
	}
	return time.Duration(c.sum / c.count)
}
