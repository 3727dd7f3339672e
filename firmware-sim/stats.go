package firmwaresim

import (
	"encoding/json"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// shardedCounter is a monotonic counter split into padded shards, so that devices
// on different CPUs rarely write the same cache line.
type shardedCounter struct {
	shards []paddedUint64
}

type paddedUint64 struct {
	n atomic.Uint64
	_ [56]byte
}

func newShardedCounter() shardedCounter { return shardedCounter{shards: make([]paddedUint64, nShards)} }

func (c *shardedCounter) inc() {
	t := getShardToken()
	c.shards[t.i&(len(c.shards)-1)].n.Add(1)
	putShardToken(t)
}

func (c *shardedCounter) load() uint64 {
	var n uint64
	for i := range c.shards {
		n += c.shards[i].n.Load()
	}
	return n
}

// peakGauge is a value that goes up and down, with the highest value it had.
type peakGauge struct {
	v, peak atomic.Int64
}

func (g *peakGauge) add(n int64) {
	v := g.v.Add(n)
	for {
		p := g.peak.Load()
		if v <= p || g.peak.CompareAndSwap(p, v) {
			return
		}
	}
}

// Stats collects what the simulated devices measure. All its methods are
// safe for concurrent use. The ones devices call never block and cost a
// few atomic operations, on shards of the current CPU for counters and
// latencies (about 20 ns for Acked, see BenchmarkStatsAcked), on one shared
// word for the gauges (Connected, Paused, Queued), whose changes are rarer.
// Counting starts when the Stats is made.
type Stats struct {
	devices int
	now     func() time.Time // time.Now except in tests
	start   time.Time

	connected, paused, queued peakGauge

	login, ack, notify *Histogram // their counts are logins, acks, notifications

	connects, sent, refusedExpected, refusedUnexpected shardedCounter
	acceptedInvalid, reconnects, drops, errors         shardedCounter
	resumes                                            shardedCounter

	errorKinds sync.Map // string -> *atomic.Uint64

	mu   sync.Mutex    // serialises Snapshot; guards last
	last *statsReading // what the previous Snapshot read
}

// NewStats returns a Stats for a run of the given number of devices,
// starting now.
func NewStats(devices int) *Stats {
	return newStats(devices, time.Now)
}

func newStats(devices int, now func() time.Time) *Stats {
	return &Stats{
		devices:           devices,
		now:               now,
		start:             now(),
		login:             NewHistogram(),
		ack:               NewHistogram(),
		notify:            NewHistogram(),
		connects:          newShardedCounter(),
		sent:              newShardedCounter(),
		refusedExpected:   newShardedCounter(),
		refusedUnexpected: newShardedCounter(),
		acceptedInvalid:   newShardedCounter(),
		reconnects:        newShardedCounter(),
		resumes:           newShardedCounter(),
		drops:             newShardedCounter(),
		errors:            newShardedCounter(),
	}
}

// Connecting counts an attempt to connect (dial and log in), whatever its
// outcome.
func (s *Stats) Connecting() { s.connects.inc() }

// Connected counts a device as connected (logged in and ready to publish).
// Each Connected must be followed by one Disconnected when that
// connection ends.
func (s *Stats) Connected() { s.connected.add(1) }

// Disconnected counts a device that was Connected as no longer connected.
func (s *Stats) Disconnected() { s.connected.add(-1) }

// LoginTook records a successful login that took d, from the start of the
// dial to the end of authentication (and resource binding where there is
// one).
func (s *Stats) LoginTook(d time.Duration) { s.login.Record(d) }

// Sent counts a fix or reading sent to the hub, valid or not.
func (s *Stats) Sent() { s.sent.inc() }

// Acked records a publish that the hub acknowledged, latency after it was
// sent.
func (s *Stats) Acked(latency time.Duration) { s.ack.Record(latency) }

// Notified records a notification that a subscriber received, latency
// after the publish it reports was sent.
func (s *Stats) Notified(latency time.Duration) { s.notify.Record(latency) }

// Refused counts a publish that the hub refused. expected is true when
// the device had sent an invalid fix on purpose; an unexpected refusal
// of a valid fix is a failure of the run.
func (s *Stats) Refused(expected bool) {
	if expected {
		s.refusedExpected.inc()
	} else {
		s.refusedUnexpected.inc()
	}
}

// AcceptedInvalid counts an invalid fix, sent on purpose, that the hub
// acknowledged instead of refusing: a hub bug. It is counted apart from
// Acked, which the device may call for the same publish as well.
func (s *Stats) AcceptedInvalid() { s.acceptedInvalid.inc() }

// Queued adds n, which may be negative, to the number of fixes waiting
// in device queues while their devices are offline: Queued(1) when a fix
// is queued, Queued(-k) when k are flushed or discarded.
func (s *Stats) Queued(n int) { s.queued.add(int64(n)) }

// Reconnect counts a device reconnecting after losing its connection.
func (s *Stats) Reconnect() { s.reconnects.inc() }

// Resumed counts a reconnection that resumed the session (XEP-0198).
func (s *Stats) Resumed() { s.resumes.inc() }

// Error counts an error of the given kind: "dial", "auth", "timeout",
// "stream", "publish", or any other short lower-case word. Kinds are kept
// for the life of the Stats, so kind must come from a small fixed set,
// never from an error message.
func (s *Stats) Error(kind string) {
	if kind == "" {
		kind = "unknown"
	}
	c, ok := s.errorKinds.Load(kind)
	if !ok {
		c, _ = s.errorKinds.LoadOrStore(kind, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)
	s.errors.inc()
}

// Dropped counts a connection that chaos closed on purpose.
func (s *Stats) Dropped() { s.drops.inc() }

// Paused counts a device as paused (true: it stopped sending for a while,
// keeping its connection) or as no longer paused (false).
func (s *Stats) Paused(paused bool) {
	if paused {
		s.paused.add(1)
	} else {
		s.paused.add(-1)
	}
}

// Latency summarises a latency histogram.
type Latency struct {
	Count              uint64
	P50, P90, P99, Max time.Duration
	Mean               time.Duration
}

func latencyOf(c *histCounts) Latency {
	return Latency{
		Count: c.count,
		P50:   c.quantile(0.50),
		P90:   c.quantile(0.90),
		P99:   c.quantile(0.99),
		Max:   time.Duration(c.max),
		Mean:  c.mean(),
	}
}

// Snapshot is what a Stats held at one time. Counters and latencies are
// totals since the start; the Window latencies and the PerSec rates cover
// only Interval, the time since the previous Snapshot.
type Snapshot struct {
	Time     time.Time
	Elapsed  time.Duration // since the start
	Interval time.Duration // since the previous Snapshot, or the start

	Devices       int
	Connected     int64 // devices connected now
	ConnectedPeak int64
	Paused        int64 // devices paused now
	Queued        int64 // fixes waiting in device queues now
	QueuedPeak    int64

	ConnectAttempts   uint64
	Logins            uint64
	Sent              uint64 // fixes and readings, valid or not
	Acked             uint64
	Notified          uint64
	RefusedExpected   uint64
	RefusedUnexpected uint64
	AcceptedInvalid   uint64
	Reconnects        uint64
	Drops             uint64
	Errors            uint64
	ErrorsByKind      map[string]uint64

	LoginsPerSec, SentPerSec, AckedPerSec, NotifiedPerSec, ErrorsPerSec float64

	Login, Ack, Notify                   Latency // since the start
	LoginWindow, AckWindow, NotifyWindow Latency // over Interval
}

// statsReading is everything a Stats holds, read once.
type statsReading struct {
	time                                           time.Time
	connects, sent, refusedExp, refusedUnexp       uint64
	acceptedInvalid, reconnects, drops, errors     uint64
	resumes                                        uint64
	login, ack, notify                             *histCounts
	connected, connectedPeak, paused, queued, qmax int64
	errorKinds                                     map[string]uint64
}

func (s *Stats) read() *statsReading {
	r := &statsReading{
		time:            s.now(),
		connects:        s.connects.load(),
		sent:            s.sent.load(),
		refusedExp:      s.refusedExpected.load(),
		refusedUnexp:    s.refusedUnexpected.load(),
		acceptedInvalid: s.acceptedInvalid.load(),
		reconnects:      s.reconnects.load(),
		resumes:         s.resumes.load(),
		drops:           s.drops.load(),
		errors:          s.errors.load(),
		login:           s.login.counts(),
		ack:             s.ack.counts(),
		notify:          s.notify.counts(),
		connected:       s.connected.v.Load(),
		connectedPeak:   s.connected.peak.Load(),
		paused:          s.paused.v.Load(),
		queued:          s.queued.v.Load(),
		qmax:            s.queued.peak.Load(),
		errorKinds:      map[string]uint64{},
	}
	s.errorKinds.Range(func(k, v any) bool {
		r.errorKinds[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return r
}

// Snapshot returns the current state, with rates and window latencies
// computed since the previous call of Snapshot on s, whoever made it (so
// there should be one caller that takes snapshots, such as RunStatus).
// It takes well under a millisecond and is meant to be called every
// second or so.
func (s *Stats) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.read()
	prev := s.last
	s.last = r
	if prev == nil {
		prev = &statsReading{time: s.start}
	}
	interval := r.time.Sub(prev.time)
	rate := func(cur, old uint64) float64 {
		if interval <= 0 || cur < old {
			return 0
		}
		return float64(cur-old) / interval.Seconds()
	}
	return Snapshot{
		Time:              r.time,
		Elapsed:           r.time.Sub(s.start),
		Interval:          interval,
		Devices:           s.devices,
		Connected:         r.connected,
		ConnectedPeak:     r.connectedPeak,
		Paused:            r.paused,
		Queued:            r.queued,
		QueuedPeak:        r.qmax,
		ConnectAttempts:   r.connects,
		Logins:            r.login.count,
		Sent:              r.sent,
		Acked:             r.ack.count,
		Notified:          r.notify.count,
		RefusedExpected:   r.refusedExp,
		RefusedUnexpected: r.refusedUnexp,
		AcceptedInvalid:   r.acceptedInvalid,
		Reconnects:        r.reconnects,
		Drops:             r.drops,
		Errors:            r.errors,
		ErrorsByKind:      r.errorKinds,
		LoginsPerSec:      rate(r.login.count, countOf(prev.login)),
		SentPerSec:        rate(r.sent, prev.sent),
		AckedPerSec:       rate(r.ack.count, countOf(prev.ack)),
		NotifiedPerSec:    rate(r.notify.count, countOf(prev.notify)),
		ErrorsPerSec:      rate(r.errors, prev.errors),
		Login:             latencyOf(r.login),
		Ack:               latencyOf(r.ack),
		Notify:            latencyOf(r.notify),
		LoginWindow:       latencyOf(r.login.since(prev.login)),
		AckWindow:         latencyOf(r.ack.since(prev.ack)),
		NotifyWindow:      latencyOf(r.notify.since(prev.notify)),
	}
}

func countOf(c *histCounts) uint64 {
	if c == nil {
		return 0
	}
	return c.count
}

// Summary is the result of a run, written as JSON when it ends. Times are
// RFC 3339; every duration is in milliseconds (a float, to the microsecond)
// and its field name ends in _ms; rates are per second over the whole run
// and end in _per_s. Latency percentiles come from histograms and are
// within 0.4% of the exact value; maxima and means are exact.
type Summary struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	DurationMs float64   `json:"duration_ms"`

	Devices         int    `json:"devices"`          // devices simulated
	ConnectedPeak   int64  `json:"connected_peak"`   // most devices connected at once
	ConnectAttempts uint64 `json:"connect_attempts"` // dials, successful or not

	Logins     uint64  `json:"logins"` // successful logins
	LoginsPerS float64 `json:"logins_per_s"`
	LoginP50Ms float64 `json:"login_p50_ms"` // dial to authenticated
	LoginP99Ms float64 `json:"login_p99_ms"`

	FixesSent  uint64  `json:"fixes_sent"` // fixes and readings, valid or not
	FixesPerS  float64 `json:"fixes_per_s"`
	Acked      uint64  `json:"acked"` // publishes acknowledged by the hub
	AcksPerS   float64 `json:"acks_per_s"`
	AckP50Ms   float64 `json:"ack_p50_ms"` // publish sent to acknowledgement received
	AckP90Ms   float64 `json:"ack_p90_ms"`
	AckP99Ms   float64 `json:"ack_p99_ms"`
	AckMaxMs   float64 `json:"ack_max_ms"`
	AckMeanMs  float64 `json:"ack_mean_ms"`
	QueuedPeak int64   `json:"queued_peak"` // most fixes waiting offline at once

	Notifications uint64  `json:"notifications"` // received by subscribers
	NotifyP50Ms   float64 `json:"notify_p50_ms"` // publish sent to notification received
	NotifyP99Ms   float64 `json:"notify_p99_ms"`
	NotifyMaxMs   float64 `json:"notify_max_ms"`

	RefusedExpected   uint64 `json:"refused_expected"`   // invalid fixes refused, as they should be
	RefusedUnexpected uint64 `json:"refused_unexpected"` // valid fixes refused: a failure
	AcceptedInvalid   uint64 `json:"accepted_invalid"`   // invalid fixes acknowledged: a hub bug

	Reconnects  uint64            `json:"reconnects"`
	Resumed     uint64            `json:"resumed"`      // reconnections that resumed the session (XEP-0198)
	Drops       uint64            `json:"drops"`        // connections closed by chaos
	ErrorsTotal uint64            `json:"errors_total"` // the sum of errors
	Errors      map[string]uint64 `json:"errors"`       // by kind; {} when there are none
}

// Summary returns the totals of the run from its start until now. It does
// not disturb the windows of Snapshot.
func (s *Stats) Summary() Summary {
	r := s.read()
	d := r.time.Sub(s.start)
	perS := func(n uint64) float64 {
		if d <= 0 {
			return 0
		}
		return round3(float64(n) / d.Seconds())
	}
	login, ack, notify := latencyOf(r.login), latencyOf(r.ack), latencyOf(r.notify)
	return Summary{
		Start:             s.start,
		End:               r.time,
		DurationMs:        durationMs(d),
		Devices:           s.devices,
		ConnectedPeak:     r.connectedPeak,
		ConnectAttempts:   r.connects,
		Logins:            login.Count,
		LoginsPerS:        perS(login.Count),
		LoginP50Ms:        durationMs(login.P50),
		LoginP99Ms:        durationMs(login.P99),
		FixesSent:         r.sent,
		FixesPerS:         perS(r.sent),
		Acked:             ack.Count,
		AcksPerS:          perS(ack.Count),
		AckP50Ms:          durationMs(ack.P50),
		AckP90Ms:          durationMs(ack.P90),
		AckP99Ms:          durationMs(ack.P99),
		AckMaxMs:          durationMs(ack.Max),
		AckMeanMs:         durationMs(ack.Mean),
		QueuedPeak:        r.qmax,
		Notifications:     notify.Count,
		NotifyP50Ms:       durationMs(notify.P50),
		NotifyP99Ms:       durationMs(notify.P99),
		NotifyMaxMs:       durationMs(notify.Max),
		RefusedExpected:   r.refusedExp,
		RefusedUnexpected: r.refusedUnexp,
		AcceptedInvalid:   r.acceptedInvalid,
		Reconnects:        r.reconnects,
		Resumed:           r.resumes,
		Drops:             r.drops,
		ErrorsTotal:       r.errors,
		Errors:            r.errorKinds,
	}
}

// WriteJSON writes the summary as indented JSON followed by a newline.
func (sum Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sum)
}

// durationMs converts d to milliseconds, rounded to the microsecond.
func durationMs(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
