package firmwaresim

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Behaviour is how a device reports and misbehaves: its group's settings.
type Behaviour struct {
	Interval       time.Duration // between fixes
	Jitter         float64       // ± share of the interval, drawn per fix
	TelemetryEvery time.Duration // between sensor readings; 0: none
	DropPerHour    float64       // chance per hour of losing the connection
	PausePerHour   float64       // chance per hour of going quiet
	PauseFor       time.Duration
	InvalidShare   float64 // share of fixes sent invalid on purpose
}

// transport is how a device reaches the hub: XMPP or MQTT.
type transport interface {
	connect(ctx context.Context) error
	// ended is closed when the connection ends by itself.
	ended() <-chan struct{}
	sendFix(ctx context.Context, f Fix, valid bool) error
	sendReadings(ctx context.Context, rs []SensorReading, t time.Time) error
	drop()  // end the connection abruptly, as a crash would
	close() // end it politely
	// checks reports whether the other end judges each fix: an MQTT broker
	// takes anything, so invalid fixes cannot be refused there.
	checks() bool
}

// Firmware behaviour: reconnecting waits 0.5 s, doubling up to 30 s, each
// wait drawn at random below that (full jitter, so that a fleet that lost
// the hub together does not come back together); fixes taken while offline
// are kept, at most maxQueue, and sent with their own timestamps on return.
const (
	backoffBase = 500 * time.Millisecond
	backoffMax  = 30 * time.Second
	maxQueue    = 1000
)

// Device is one simulated device.
type Device struct {
	Account   Account
	behaviour Behaviour
	rng       *rand.Rand
	mover     Mover
	sensors   *Sensors // nil without telemetry
	out       transport
	stats     *Stats
	onAck     func(Account, Fix) // told of every fix the hub acknowledged
	hold      <-chan struct{}    // nil or closed: send fixes; else wait, connected

	queue         []Fix
	pausedTill    time.Time
	lastFix       time.Time
	lastRead      time.Time
	everConnected bool
}

// Run drives the device until ctx ends.
func (d *Device) Run(ctx context.Context) {
	connected, attempts := false, 0
	defer func() {
		if connected {
			d.out.close()
			d.stats.Disconnected()
		}
	}()
	d.lastFix = time.Now()
	for ctx.Err() == nil {
		if !connected {
			if attempts > 0 && !sleep(ctx, d.backoff(attempts)) {
				return
			}
			attempts++
			d.stats.Connecting()
			start := time.Now()
			if err := d.out.connect(ctx); err != nil {
				if ctx.Err() == nil {
					d.stats.Error(failureKind(err))
				}
				continue
			}
			d.stats.LoginTook(time.Since(start))
			d.stats.Connected()
			if d.everConnected {
				d.stats.Reconnect()
			}
			if r, ok := d.out.(interface{ resumedSession() bool }); ok && r.resumedSession() {
				d.stats.Resumed()
			}
			connected, attempts, d.everConnected = true, 0, true
			if !d.flush(ctx) {
				connected = d.lost()
				continue
			}
		}
		if d.hold != nil {
			select {
			case <-ctx.Done():
				return
			case <-d.out.ended():
				connected = d.lost()
				d.stats.Error("stream")
				continue
			case <-d.hold:
				d.hold, d.lastFix = nil, time.Now()
			}
		}
		wait := d.nextWait()
		select {
		case <-ctx.Done():
			return
		case <-d.out.ended():
			connected = d.lost()
			d.stats.Error("stream")
			continue
		case <-time.After(wait):
		}
		if !d.tick(ctx) {
			connected = d.lost()
		}
	}
}

// lost records a connection that ended; it returns the new state.
func (d *Device) lost() bool {
	d.out.drop()
	d.stats.Disconnected()
	return false
}

// nextWait is the interval with its jitter.
func (d *Device) nextWait() time.Duration {
	b := d.behaviour
	j := 1 + b.Jitter*(2*d.rng.Float64()-1)
	return time.Duration(float64(b.Interval) * j)
}

func (d *Device) backoff(attempt int) time.Duration {
	ceiling := backoffBase << min(attempt-1, 10)
	return time.Duration(d.rng.Int64N(int64(min(ceiling, backoffMax)) + 1))
}

// tick takes a fix (and maybe readings) and sends it, queuing it when the
// connection fails; false means the connection is gone.
func (d *Device) tick(ctx context.Context) bool {
	now := time.Now()
	dt := now.Sub(d.lastFix)
	d.lastFix = now
	hours := dt.Hours()
	b := d.behaviour
	if now.Before(d.pausedTill) {
		return true // quiet: parked, the engine off
	}
	if b.PausePerHour > 0 && d.rng.Float64() < b.PausePerHour*hours {
		d.pausedTill = now.Add(b.PauseFor)
		d.stats.Paused(true)
		time.AfterFunc(b.PauseFor, func() { d.stats.Paused(false) })
		return true
	}
	fix := d.mover.Next(now, dt).rounded()
	if b.DropPerHour > 0 && d.rng.Float64() < b.DropPerHour*hours {
		d.stats.Dropped()
		d.enqueue(fix)
		return false
	}
	if !d.flush(ctx) {
		d.enqueue(fix)
		return false
	}
	if !d.send(ctx, fix, d.rng.Float64() >= b.InvalidShare) {
		d.enqueue(fix)
		return false
	}
	if d.sensors != nil && now.Sub(d.lastRead) >= b.TelemetryEvery {
		d.lastRead = now
		if err := d.out.sendReadings(ctx, d.sensors.Read(now), now); err != nil {
			return d.failed(ctx, err)
		}
	}
	return true
}

// send publishes one fix and counts the outcome; false means the
// connection is gone and the fix was not taken.
func (d *Device) send(ctx context.Context, f Fix, valid bool) bool {
	d.stats.Sent()
	start := time.Now()
	err := d.out.sendFix(ctx, f, valid)
	var r *Refusal
	switch {
	case err == nil && (valid || !d.out.checks()):
		d.stats.Acked(time.Since(start))
		if d.onAck != nil && valid {
			d.onAck(d.Account, f)
		}
	case err == nil:
		d.stats.AcceptedInvalid()
	case errors.As(err, &r):
		d.stats.Refused(!valid)
	default:
		return d.failed(ctx, err)
	}
	return true
}

// failed counts a failed send, unless the run itself ended (ctx done,
// cancelled or past the scenario's duration): the send it cut short is no
// fault of the hub, whose answer may still be on its way.
func (d *Device) failed(ctx context.Context, err error) bool {
	if ctx.Err() == nil {
		d.stats.Error(failureKind(err))
	}
	return false
}

// flush sends what was queued while offline, oldest first.
func (d *Device) flush(ctx context.Context) bool {
	for len(d.queue) > 0 {
		if !d.send(ctx, d.queue[0], true) {
			return false
		}
		d.queue = d.queue[1:]
		d.stats.Queued(-1)
	}
	d.queue = nil
	return true
}

func (d *Device) enqueue(f Fix) {
	if len(d.queue) >= maxQueue {
		d.queue = d.queue[1:] // the oldest goes: a full buffer in firmware
		d.stats.Queued(-1)
		d.stats.Error("queue-full")
	}
	d.queue = append(d.queue, f)
	d.stats.Queued(1)
}

func failureKind(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Kind
	}
	return "other"
}

// sleep waits d or until ctx ends; false means ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
