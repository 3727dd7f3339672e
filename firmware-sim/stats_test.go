package firmwaresim

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

// statsClock is a clock that moves only when told to.
type statsClock struct {
	mu sync.Mutex
	t  time.Time
}

func newStatsClock() *statsClock {
	return &statsClock{t: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *statsClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *statsClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// withinPrecision reports whether got is within 0.5% of want: the histogram's
// precision plus rounding to the microsecond.
func withinPrecision(got, want float64) bool {
	return math.Abs(got-want) <= 0.005*math.Abs(want)+0.001
}

func TestStatsSnapshot(t *testing.T) {
	clk := newStatsClock()
	s := newStats(10, clk.Now)

	for range 3 {
		s.Connecting()
		s.Connected()
	}
	s.Disconnected()
	s.Paused(true)
	s.Paused(true)
	s.Paused(false)
	s.Queued(5)
	s.Queued(-3)
	for range 5 {
		s.Sent()
	}
	for i := range 4 {
		s.Acked(time.Duration(i+1) * time.Millisecond)
	}
	s.LoginTook(30 * time.Millisecond)
	s.Error("dial")
	s.Error("dial")
	s.Error("auth")
	clk.Advance(2 * time.Second)

	a := s.Snapshot()
	if a.Interval != 2*time.Second || a.Elapsed != 2*time.Second {
		t.Errorf("first snapshot: interval %v elapsed %v, want 2s 2s", a.Interval, a.Elapsed)
	}
	if a.Connected != 2 || a.ConnectedPeak != 3 || a.ConnectAttempts != 3 || a.Devices != 10 {
		t.Errorf("connected %d peak %d attempts %d devices %d, want 2 3 3 10", a.Connected, a.ConnectedPeak, a.ConnectAttempts, a.Devices)
	}
	if a.Paused != 1 || a.Queued != 2 || a.QueuedPeak != 5 {
		t.Errorf("paused %d queued %d (peak %d), want 1 2 (5)", a.Paused, a.Queued, a.QueuedPeak)
	}
	if a.Sent != 5 || a.SentPerSec != 2.5 {
		t.Errorf("sent %d at %v/s, want 5 at 2.5/s", a.Sent, a.SentPerSec)
	}
	if a.Acked != 4 || a.AckedPerSec != 2 || a.Ack.Count != 4 || a.AckWindow.Count != 4 {
		t.Errorf("acked %d at %v/s (latency count %d, window %d), want 4 at 2/s", a.Acked, a.AckedPerSec, a.Ack.Count, a.AckWindow.Count)
	}
	if a.Ack.Max != 4*time.Millisecond || !withinPrecision(float64(a.Ack.P50), 2e6) {
		t.Errorf("ack max %v p50 %v, want 4ms 2ms", a.Ack.Max, a.Ack.P50)
	}
	if a.Logins != 1 || a.LoginsPerSec != 0.5 || a.Login.Max != 30*time.Millisecond {
		t.Errorf("logins %d at %v/s, max %v, want 1 at 0.5/s, 30ms", a.Logins, a.LoginsPerSec, a.Login.Max)
	}
	if a.Errors != 3 || a.ErrorsPerSec != 1.5 || !maps.Equal(a.ErrorsByKind, map[string]uint64{"dial": 2, "auth": 1}) {
		t.Errorf("errors %d at %v/s by kind %v", a.Errors, a.ErrorsPerSec, a.ErrorsByKind)
	}

	// The second snapshot's rates and windows cover only what came after
	// the first.
	for range 10 {
		s.Sent()
		s.Acked(100 * time.Millisecond)
	}
	s.Notified(7 * time.Millisecond)
	clk.Advance(5 * time.Second)
	b := s.Snapshot()
	if b.Interval != 5*time.Second || b.Elapsed != 7*time.Second {
		t.Errorf("second snapshot: interval %v elapsed %v, want 5s 7s", b.Interval, b.Elapsed)
	}
	if b.Sent != 15 || b.SentPerSec != 2 || b.Acked != 14 || b.AckedPerSec != 2 {
		t.Errorf("sent %d at %v/s, acked %d at %v/s, want 15 at 2/s, 14 at 2/s", b.Sent, b.SentPerSec, b.Acked, b.AckedPerSec)
	}
	if b.LoginsPerSec != 0 || b.ErrorsPerSec != 0 || b.NotifiedPerSec != 0.2 {
		t.Errorf("logins %v/s errors %v/s notified %v/s, want 0 0 0.2", b.LoginsPerSec, b.ErrorsPerSec, b.NotifiedPerSec)
	}
	if b.AckWindow.Count != 10 || !withinPrecision(float64(b.AckWindow.P50), 100e6) || !withinPrecision(float64(b.AckWindow.Mean), 100e6) {
		t.Errorf("ack window: count %d p50 %v mean %v, want 10 100ms 100ms", b.AckWindow.Count, b.AckWindow.P50, b.AckWindow.Mean)
	}
	if b.Ack.Count != 14 || !withinPrecision(float64(b.Ack.P50), 100e6) || b.Ack.Max != 100*time.Millisecond {
		t.Errorf("ack since start: count %d p50 %v max %v, want 14 100ms 100ms", b.Ack.Count, b.Ack.P50, b.Ack.Max)
	}
	if b.LoginWindow.Count != 0 || b.LoginWindow.P99 != 0 || b.Login.Count != 1 {
		t.Errorf("login window %+v since start %+v, want empty and 1", b.LoginWindow, b.Login)
	}

	// An empty interval has zero rates.
	c := s.Snapshot()
	if c.Interval != 0 || c.SentPerSec != 0 || c.AckWindow.Count != 0 || c.Sent != 15 {
		t.Errorf("snapshot at the same instant: interval %v sent/s %v window %d sent %d", c.Interval, c.SentPerSec, c.AckWindow.Count, c.Sent)
	}
}

// scriptedRun drives a Stats through a known run: 4 devices for 10 s.
func scriptedRun(s *Stats, clk *statsClock) {
	for i := range 4 {
		s.Connecting()
		if i == 3 {
			s.Error("dial")
			continue
		}
		s.LoginTook(time.Duration(10*(i+1)) * time.Millisecond) // 10, 20, 30 ms
		s.Connected()
	}
	for i := range 100 {
		s.Sent()
		s.Acked(time.Duration(i+1) * time.Millisecond) // 1..100 ms
		if i%4 == 0 {
			s.Notified(time.Duration(i+2) * time.Millisecond) // 25 of them, 2..98 ms
		}
	}
	for range 6 {
		s.Sent()
		s.Refused(true)
	}
	s.Sent()
	s.Refused(false)
	s.Sent()
	s.Acked(50 * time.Millisecond)
	s.AcceptedInvalid()
	s.Dropped()
	s.Disconnected()
	s.Queued(1)
	s.Queued(1)
	s.Queued(1)
	s.Queued(-3)
	s.Reconnect()
	s.Connecting()
	s.LoginTook(40 * time.Millisecond)
	s.Connected()
	s.Error("timeout")
	s.Error("timeout")
	s.Error("publish")
	clk.Advance(10 * time.Second)
}

func TestSummaryJSON(t *testing.T) {
	clk := newStatsClock()
	s := newStats(4, clk.Now)
	scriptedRun(s, clk)
	s.Snapshot() // must not change the summary

	var buf bytes.Buffer
	if err := s.Summary().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, buf.Bytes())
	}

	// The shape: every field, named in snake_case.
	wantKeys := []string{
		"start", "end", "duration_ms",
		"devices", "connected_peak", "connect_attempts",
		"logins", "logins_per_s", "login_p50_ms", "login_p99_ms",
		"fixes_sent", "fixes_per_s", "acked", "acks_per_s",
		"ack_p50_ms", "ack_p90_ms", "ack_p99_ms", "ack_max_ms", "ack_mean_ms", "queued_peak",
		"notifications", "notify_p50_ms", "notify_p99_ms", "notify_max_ms",
		"refused_expected", "refused_unexpected", "accepted_invalid",
		"reconnects", "resumed", "drops", "errors_total", "errors",
	}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, slices.Sorted(slices.Values(wantKeys))) {
		t.Errorf("summary fields:\n got %v\nwant %v", keys, slices.Sorted(slices.Values(wantKeys)))
	}

	// The values. Counts and maxima are exact; percentiles within the
	// histogram's precision.
	exact := map[string]any{
		"start":              "2026-07-01T12:00:00Z",
		"end":                "2026-07-01T12:00:10Z",
		"duration_ms":        10000.0,
		"devices":            4.0,
		"connected_peak":     3.0,
		"connect_attempts":   5.0,
		"logins":             4.0,
		"logins_per_s":       0.4,
		"fixes_sent":         108.0,
		"fixes_per_s":        10.8,
		"acked":              101.0,
		"acks_per_s":         10.1,
		"ack_max_ms":         100.0,
		"ack_mean_ms":        math.Round(5100.0/101*1000) / 1000, // (5050+50)/101 ms
		"queued_peak":        3.0,
		"notifications":      25.0,
		"notify_max_ms":      98.0,
		"refused_expected":   6.0,
		"refused_unexpected": 1.0,
		"accepted_invalid":   1.0,
		"reconnects":         1.0,
		"drops":              1.0,
		"errors_total":       4.0,
		"errors":             map[string]any{"dial": 1.0, "timeout": 2.0, "publish": 1.0},
	}
	for k, want := range exact {
		if w, ok := want.(map[string]any); ok {
			if g, _ := got[k].(map[string]any); !maps.Equal(g, w) {
				t.Errorf("%s = %v, want %v", k, got[k], want)
			}
			continue
		}
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	approx := map[string]float64{
		"login_p50_ms":  20, // of 10, 20, 30, 40
		"login_p99_ms":  40,
		"ack_p50_ms":    50, // of 1..100 and 50
		"ack_p90_ms":    90,
		"ack_p99_ms":    99,
		"notify_p50_ms": 50, // of 2, 6, ..., 98
		"notify_p99_ms": 98,
	}
	for k, want := range approx {
		if g, _ := got[k].(float64); !withinPrecision(g, want) {
			t.Errorf("%s = %v, want %v ±0.5%%", k, got[k], want)
		}
	}
}

func TestSummaryEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := NewStats(0).Summary().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if e, ok := got["errors"].(map[string]any); !ok || len(e) != 0 {
		t.Errorf(`errors = %v, want {} (not null)`, got["errors"])
	}
	if got["ack_p99_ms"] != 0.0 || got["acks_per_s"] != 0.0 {
		t.Errorf("ack_p99_ms %v acks_per_s %v, want 0 0", got["ack_p99_ms"], got["acks_per_s"])
	}
}

// TestStatsConcurrent runs every method from many goroutines while a
// reader takes snapshots and summaries; run it with -race.
func TestStatsConcurrent(t *testing.T) {
	const goroutines, each = 16, 2000
	s := NewStats(goroutines)
	stop := make(chan struct{})
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				s.Snapshot()
				s.Summary()
			}
		}
	})
	kinds := []string{"dial", "auth", "timeout", "stream", "publish"}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			s.Connecting()
			s.LoginTook(time.Duration(g+1) * time.Millisecond)
			s.Connected()
			for i := range each {
				s.Sent()
				s.Acked(time.Duration(i+1) * time.Microsecond)
				s.Notified(time.Duration(i+1) * time.Microsecond)
				s.Queued(1)
				s.Queued(-1)
				if i%100 == 0 {
					s.Refused(i%200 == 0)
					s.Error(kinds[i/100%len(kinds)])
					s.Paused(true)
					s.Paused(false)
					s.Dropped()
					s.Reconnect()
					s.AcceptedInvalid()
				}
			}
			s.Disconnected()
		})
	}
	wg.Wait()
	close(stop)
	reader.Wait()

	snap := s.Snapshot()
	n := uint64(goroutines * each)
	if snap.Sent != n || snap.Acked != n || snap.Notified != n || snap.Logins != goroutines || snap.ConnectAttempts != goroutines {
		t.Errorf("sent %d acked %d notified %d logins %d attempts %d, want %d %d %d %d %d",
			snap.Sent, snap.Acked, snap.Notified, snap.Logins, snap.ConnectAttempts, n, n, n, goroutines, goroutines)
	}
	if snap.Connected != 0 || snap.Paused != 0 || snap.Queued != 0 || snap.ConnectedPeak < 1 || snap.ConnectedPeak > goroutines {
		t.Errorf("gauges: connected %d (peak %d) paused %d queued %d", snap.Connected, snap.ConnectedPeak, snap.Paused, snap.Queued)
	}
	rare := uint64(goroutines * each / 100)
	if snap.Errors != rare || snap.Drops != rare || snap.Reconnects != rare || snap.AcceptedInvalid != rare ||
		snap.RefusedExpected+snap.RefusedUnexpected != rare || snap.RefusedExpected != rare/2 {
		t.Errorf("errors %d drops %d reconnects %d accepted invalid %d refused %d/%d, want %d each, half expected",
			snap.Errors, snap.Drops, snap.Reconnects, snap.AcceptedInvalid, snap.RefusedExpected, snap.RefusedExpected+snap.RefusedUnexpected, rare)
	}
	var byKind uint64
	for _, k := range kinds {
		byKind += snap.ErrorsByKind[k]
	}
	if byKind != rare || len(snap.ErrorsByKind) != len(kinds) {
		t.Errorf("errors by kind %v, want %d over %d kinds", snap.ErrorsByKind, rare, len(kinds))
	}
	if snap.Ack.Max != each*time.Microsecond {
		t.Errorf("ack max %v, want %v", snap.Ack.Max, each*time.Microsecond)
	}
}

// BenchmarkStatsAcked measures what a device pays to report an
// acknowledged publish, with 8 goroutines or more reporting at once.
func BenchmarkStatsAcked(b *testing.B) {
	s := NewStats(8)
	parallel8(b, func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			s.Acked(benchLatency(i))
		}
	})
}

// BenchmarkStatsSentAcked is one publish's whole cost: Sent, then Acked.
func BenchmarkStatsSentAcked(b *testing.B) {
	s := NewStats(8)
	parallel8(b, func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			s.Sent()
			s.Acked(benchLatency(i))
		}
	})
}

func BenchmarkStatsError(b *testing.B) {
	s := NewStats(8)
	parallel8(b, func(pb *testing.PB) {
		for pb.Next() {
			s.Error("timeout")
		}
	})
}

func BenchmarkStatsSnapshot(b *testing.B) {
	s := NewStats(8)
	for i := range 100000 {
		s.Acked(time.Duration(i) * time.Microsecond)
	}
	for b.Loop() {
		s.Snapshot()
	}
}
