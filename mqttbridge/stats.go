package mqttbridge

import (
	"sync"
	"sync/atomic"
	"time"
)

// counters of one connection.
type counters struct {
	received, fixes, readings, acked  atomic.Uint64
	malformed, refused, failed        atomic.Uint64
	looped, ignored, lwt, provisioned atomic.Uint64
	published                         atomic.Uint64
}

// Counts are what the bridge did since it started.
type Counts struct {
	Received    uint64 `json:"received"`    // messages that arrived
	Fixes       uint64 `json:"fixes"`       // locations stored (durable)
	Readings    uint64 `json:"readings"`    // telemetry messages stored
	Acked       uint64 `json:"acked"`       // messages acknowledged to the broker
	Malformed   uint64 `json:"malformed"`   // refused for their payload: not JSON, no or bad coordinates, wrong types
	Refused     uint64 `json:"refused"`     // refused for their device: unknown with provisioning off or over its rate, a name not as written or not provisionable, not an accepted device, an account at a limit
	Failed      uint64 `json:"failed"`      // failed attempts to store, for the hub's fault: retried, then left unacknowledged and the connection dropped, so sent again
	Looped      uint64 `json:"looped"`      // the bridge's own publications, not ingested
	Ignored     uint64 `json:"ignored"`     // messages without a position or reading (OwnTracks cards, waypoints, ...)
	LWT         uint64 `json:"lwt"`         // OwnTracks last wills: trackers that went offline
	Provisioned uint64 `json:"provisioned"` // device accounts created
	Published   uint64 `json:"published"`   // messages published (positions, status, alerts)
	Dropped     uint64 `json:"dropped"`     // alerts dropped because the broker could not take them
}

func (c *Counts) add(o Counts) {
	c.Received += o.Received
	c.Fixes += o.Fixes
	c.Readings += o.Readings
	c.Acked += o.Acked
	c.Malformed += o.Malformed
	c.Refused += o.Refused
	c.Failed += o.Failed
	c.Looped += o.Looped
	c.Ignored += o.Ignored
	c.LWT += o.LWT
	c.Provisioned += o.Provisioned
	c.Published += o.Published
	c.Dropped += o.Dropped
}

// BrokerStats is the state of one broker connection.
type BrokerStats struct {
	Broker    string    `json:"broker"`    // its URLs, without passwords
	Connected bool      `json:"connected"` // connected and subscribed
	Connects  uint64    `json:"connects"`  // successful connects, reconnects included
	LastError string    `json:"last_error,omitempty"`
	ErrorTime time.Time `json:"last_error_time,omitzero"`
	Counts
}

// Stats is the bridge's state, for the logs, /metrics and the dashboard.
type Stats struct {
	Brokers []BrokerStats `json:"brokers"`
	Total   Counts        `json:"total"`
}

// Stats returns the state of every connection and the totals. It is cheap
// and safe to call at any time.
func (b *Bridge) Stats() Stats {
	var s Stats
	for _, c := range b.conns {
		bs := BrokerStats{Broker: c.name, Counts: Counts{
			Received: c.st.received.Load(), Fixes: c.st.fixes.Load(), Readings: c.st.readings.Load(),
			Acked: c.st.acked.Load(), Malformed: c.st.malformed.Load(), Refused: c.st.refused.Load(),
			Failed: c.st.failed.Load(), Looped: c.st.looped.Load(), Ignored: c.st.ignored.Load(),
			LWT: c.st.lwt.Load(), Provisioned: c.st.provisioned.Load(), Published: c.st.published.Load(),
		}}
		c.out.mu.Lock()
		bs.Dropped = c.out.dropped
		c.out.mu.Unlock()
		c.mu.Lock()
		bs.Connected, bs.Connects, bs.LastError, bs.ErrorTime = c.connected, c.connects, c.lastErr, c.lastErrAt
		c.mu.Unlock()
		s.Brokers = append(s.Brokers, bs)
		s.Total.add(bs.Counts)
	}
	return s
}

// logLimiter lets burst messages through per period and counts the rest,
// so that a tracker sending garbage many times a second does not flood
// the log.
type logLimiter struct {
	every      time.Duration
	burst      int
	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

// allow reports whether to log now, and how many messages were held back
// since the last one logged.
func (l *logLimiter) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= l.every {
		l.start, l.n = now, 0
	}
	if l.n >= l.burst {
		l.suppressed++
		return false, 0
	}
	l.n++
	held := l.suppressed
	l.suppressed = 0
	return true, held
}

// refusedLog logs a message that was not stored, with its topic.
func (b *Bridge) refusedLog(topic, what string, err error) {
	ok, held := b.limiter.allow(time.Now())
	if !ok {
		return
	}
	if held > 0 {
		b.log.Warn(what, "topic", topic, "err", err, "not_logged_before", held)
		return
	}
	b.log.Warn(what, "topic", topic, "err", err)
}

// BridgeState sums the connections up in one word, for /metrics:
// "connected" when every broker connection is up (and subscribed),
// "connecting" while one has never been up, "disconnected" while one is
// down after having been up; "disabled" for a nil bridge.
func (b *Bridge) BridgeState() string {
	if b == nil {
		return "disabled"
	}
	state := "connected"
	for _, c := range b.conns {
		c.mu.Lock()
		up, ever := c.connected, c.connects > 0
		c.mu.Unlock()
		switch {
		case !up && !ever:
			return "connecting"
		case !up:
			state = "disconnected"
		}
	}
	return state
}
