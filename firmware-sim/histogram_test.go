package firmwaresim

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketLayout(t *testing.T) {
	if got := bucketOf(maxTracked); got != nBuckets-1 {
		t.Fatalf("bucketOf(maxTracked) = %d, want %d", got, nBuckets-1)
	}
	var next uint64
	for i := range nBuckets {
		lo, width := bucketRange(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d (buckets must tile)", i, lo, next)
		}
		if lo >= 2*subCount && float64(width)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d [%d, +%d) is wider than 1/%d of its start", i, lo, width, subCount)
		}
		for _, v := range []uint64{lo, lo + width/2, lo + width - 1} {
			if got := bucketOf(v); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, got, i)
			}
		}
		next = lo + width
	}
	if next != maxTracked+1 {
		t.Fatalf("buckets end at %d, want %d", next, uint64(maxTracked+1))
	}
	if got := bucketOf(math.MaxUint64); got != nBuckets-1 {
		t.Fatalf("bucketOf(MaxUint64) = %d, want the last bucket", got)
	}
}

// exactQuantile is the definition Quantile approximates: the smallest
// value with at least a fraction q of the sorted samples at or below it.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func exactMean(samples []time.Duration) time.Duration {
	var sum uint64
	for _, d := range samples {
		sum += uint64(d)
	}
	return time.Duration(sum / uint64(len(samples)))
}

var testQuantiles = []float64{0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1}

// checkQuantiles compares h with the exact quantiles of samples; the
// precision promised is 1% (the layout gives 0.4%).
func checkQuantiles(t *testing.T, h *Histogram, samples []time.Duration) {
	t.Helper()
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	if got := h.Count(); got != uint64(len(samples)) {
		t.Errorf("Count = %d, want %d", got, len(samples))
	}
	if got, want := h.Max(), sorted[len(sorted)-1]; got != want {
		t.Errorf("Max = %v, want %v", got, want)
	}
	if got, want := h.Mean(), exactMean(samples); got != want {
		t.Errorf("Mean = %v, want %v", got, want)
	}
	for _, q := range testQuantiles {
		got, want := h.Quantile(q), exactQuantile(sorted, q)
		if diff := math.Abs(float64(got - want)); diff > 0.01*float64(want) {
			t.Errorf("Quantile(%v) = %v, want %v ±1%% (off by %.3f%%)", q, got, want, 100*diff/float64(want))
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	const n = 20000
	dists := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		// The whole range, 1 µs to 5 min, uniform on a log scale.
		{"loguniform", func(r *rand.Rand) time.Duration {
			lo, hi := math.Log(float64(time.Microsecond)), math.Log(float64(5*time.Minute))
			return time.Duration(math.Exp(lo + r.Float64()*(hi-lo)))
		}},
		{"exponential-5ms", func(r *rand.Rand) time.Duration {
			return time.Duration(r.ExpFloat64() * float64(5*time.Millisecond))
		}},
		{"normal-20ms", func(r *rand.Rand) time.Duration {
			return time.Duration(max(0, 20e6+3e6*r.NormFloat64()))
		}},
		{"lognormal", func(r *rand.Rand) time.Duration {
			return time.Duration(math.Exp(math.Log(2e6) + 1.5*r.NormFloat64()))
		}},
		// Fast acks with a slow tail, as a hub that stalls now and then.
		{"bimodal", func(r *rand.Rand) time.Duration {
			if r.IntN(100) < 3 {
				return time.Duration(2e9 + r.Int64N(3e9))
			}
			return time.Duration(500e3 + r.Int64N(1500e3))
		}},
		{"sub-microsecond", func(r *rand.Rand) time.Duration {
			return time.Duration(r.Int64N(2000))
		}},
	}
	for i, dist := range dists {
		t.Run(dist.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 42))
			h := NewHistogram()
			samples := make([]time.Duration, n)
			for j := range samples {
				samples[j] = dist.gen(r)
				h.Record(samples[j])
			}
			checkQuantiles(t, h, samples)
		})
	}
}

func TestHistogramEdges(t *testing.T) {
	h := NewHistogram()
	if h.Count() != 0 || h.Max() != 0 || h.Mean() != 0 || h.Quantile(0.5) != 0 {
		t.Fatalf("empty histogram: count %d max %v mean %v p50 %v, want zeros", h.Count(), h.Max(), h.Mean(), h.Quantile(0.5))
	}
	h.Record(-time.Second)
	if h.Count() != 1 || h.Max() != 0 || h.Quantile(1) != 0 {
		t.Fatalf("a negative duration should count as 0: count %d max %v p100 %v", h.Count(), h.Max(), h.Quantile(1))
	}
	h.Record(20 * time.Minute) // beyond the tracked range
	if got := h.Max(); got != 20*time.Minute {
		t.Errorf("Max = %v, want 20m", got)
	}
	if got := h.Quantile(1); got != 20*time.Minute {
		t.Errorf("Quantile(1) = %v, want 20m (Max, beyond the range)", got)
	}
	if got := h.Mean(); got != 10*time.Minute {
		t.Errorf("Mean = %v, want 10m", got)
	}
	h2 := NewHistogram()
	h2.Record(1234 * time.Microsecond)
	for _, q := range []float64{-1, 0, 0.5, 1, 2} {
		if got := h2.Quantile(q); math.Abs(float64(got-1234*time.Microsecond)) > 0.004*1234e3 {
			t.Errorf("one sample: Quantile(%v) = %v, want 1.234ms", q, got)
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	a, b := NewHistogram(), newHistogram(1)
	var all []time.Duration
	for range 5000 {
		d := time.Duration(r.ExpFloat64() * 3e6)
		a.Record(d)
		all = append(all, d)
	}
	for range 3000 {
		d := time.Duration(50e6 + r.Int64N(50e6))
		b.Record(d)
		all = append(all, d)
	}
	a.Merge(b)
	checkQuantiles(t, a, all)
	if b.Count() != 3000 {
		t.Errorf("Merge changed its argument: count %d", b.Count())
	}

	a.Merge(a)
	if got := a.Count(); got != 2*uint64(len(all)) {
		t.Errorf("after merging with itself: Count = %d, want %d", got, 2*len(all))
	}
	checkQuantiles(t, a, append(all, all...))
}

func TestHistogramConcurrent(t *testing.T) {
	const goroutines, each = 8, 5000
	h := NewHistogram()
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() { // a reader, as the status line is
		for {
			select {
			case <-done:
				return
			default:
				h.Quantile(0.99)
				h.Mean()
			}
		}
	}()
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				h.Record(time.Duration(g*each+i+1) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	close(done)
	if got := h.Count(); got != goroutines*each {
		t.Errorf("Count = %d, want %d", got, goroutines*each)
	}
	if got, want := h.Max(), goroutines*each*time.Microsecond; got != want {
		t.Errorf("Max = %v, want %v", got, want)
	}
	if got, want := h.Quantile(0.5), goroutines*each/2*time.Microsecond; math.Abs(float64(got-want)) > 0.01*float64(want) {
		t.Errorf("Quantile(0.5) = %v, want %v ±1%%", got, want)
	}
}

// mutexHistogram is the simplest alternative to the sharded Histogram: the
// same buckets behind one mutex. It is here only to be benchmarked.
type mutexHistogram struct {
	mu         sync.Mutex
	count, sum uint64
	max        uint64
	buckets    [nBuckets]uint64
}

func (h *mutexHistogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.mu.Lock()
	h.buckets[bucketOf(v)]++
	h.count++
	h.sum += v
	h.max = max(h.max, v)
	h.mu.Unlock()
}

// benchLatency is the i-th of a sequence of latencies from 0.5 to 10.5 ms,
// as acks might take.
func benchLatency(i int) time.Duration {
	return 500*time.Microsecond + time.Duration(i*7919%10000)*time.Microsecond
}

// parallel8 runs body in b.RunParallel with at least 8 goroutines, however
// many CPUs there are (GOMAXPROCS × parallelism).
func parallel8(b *testing.B, body func(pb *testing.PB)) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((8 + procs - 1) / procs)
	b.RunParallel(body)
}

func BenchmarkHistogramRecord(b *testing.B) {
	record := func(rec func(time.Duration)) func(b *testing.B) {
		return func(b *testing.B) {
			parallel8(b, func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					rec(benchLatency(i))
				}
			})
		}
	}
	b.Run("sharded", record(NewHistogram().Record))
	b.Run("one-shard", record(newHistogram(1).Record))
	b.Run("mutex", record(new(mutexHistogram).Record))
}

func BenchmarkHistogramQuantile(b *testing.B) {
	h := NewHistogram()
	for i := range 100000 {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for b.Loop() {
		h.Quantile(0.99)
	}
}
