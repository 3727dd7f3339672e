package mqttbridge

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
)

// onMessage is paho's handler for every message, on paho's network
// goroutine: it hands the message to the worker of its topic and blocks
// while that worker's queue is full. That holds up paho's reading, so the
// broker stops sending once its in-flight window is used: backpressure
// instead of dropping. A message left when the bridge stops is not
// acknowledged, and comes again.
func (c *conn) onMessage(_ mqtt.Client, m mqtt.Message) {
	b := c.b
	c.st.received.Add(1)
	q := b.queues[maphash.String(b.seed, m.Topic())%uint64(len(b.queues))]
	select {
	case q <- job{c: c, msg: m, at: time.Now().UTC(), gen: c.gen.Load()}:
	case <-b.stop:
	}
}

func (b *Bridge) work(q <-chan job) {
	for {
		select {
		case j := <-q:
			b.handle(j)
		case <-b.stop:
			return
		}
	}
}

// handle turns one message into publishes on the device's PEP nodes, and
// acknowledges it once they are durable, or once it is refused for good.
// A failure that a retry may fix (a database error) is retried here with
// a bounded backoff; when the retries are used up the message stays
// unacknowledged and the connection it came on is closed, so that paho
// reconnects and the broker sends it again: an unacknowledged message
// holds one slot of the broker's in-flight window, and a broker sends a
// message again only to a new connection.
func (b *Bridge) handle(j job) {
	c, topic := j.c, j.msg.Topic()
	d, err := b.decode(topic, j.msg.Payload())
	if err == nil && !d.offline {
		err = b.check(&d, j)
	}
	if err == nil {
		// A last will only tells of a device the hub knows.
		var created bool
		var account string
		err = b.retry(func() error {
			var err error
			account, created, err = b.device(d.name, !d.offline)
			return err
		})
		d.name = account
		if created {
			c.st.provisioned.Add(1)
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, errLooped):
		c.st.looped.Add(1)
		c.acks.push(j.msg)
		return
	case errors.Is(err, errIgnored):
		c.st.ignored.Add(1)
		c.acks.push(j.msg)
		return
	case isPayloadError(err):
		b.refusedLog(topic, "malformed payload", err)
		c.st.malformed.Add(1)
		c.acks.push(j.msg)
		return
	case isRefusal(err):
		b.refusedLog(topic, "refused", err)
		c.st.refused.Add(1)
		c.acks.push(j.msg)
		return
	default:
		// Not acknowledged: sent again after the reconnect.
		c.st.failed.Add(1)
		b.refusedLog(topic, "not stored; reconnecting so that the broker sends it again", err)
		c.forceReconnect(j.gen)
		return
	}
	if d.offline {
		c.st.lwt.Add(1)
		// The status topic hears of it through the online watcher, unless
		// the bridge held nothing (it restarted since, or the device was
		// silent too long): then it is said here, unless XMPP sessions
		// keep the device online.
		if !b.release(d.name, viaLWT, nil) && b.p.OutPrefix != "" && b.p.out[OutStatus] && !b.accounts.Online(d.name) {
			for _, oc := range b.conns {
				oc.out.status(d.name, false, viaLWT)
			}
		}
		c.acks.push(j.msg)
		return
	}
	// A retained message is the broker's memory, replayed because the
	// bridge subscribed: no sign that the device is there now.
	t := &tracker{c: c, msg: j.msg, topic: topic, name: d.name, at: j.at, gen: j.gen, live: !j.msg.Retained()}
	var ops []*pubOp
	if d.geo != nil {
		ops = append(ops, &pubOp{t: t, node: geoloc.NS, id: itemID(*d.geo.Timestamp), payload: d.geo.Encode(), ok: &c.st.fixes})
	}
	if len(d.readings) > 0 {
		ops = append(ops, &pubOp{t: t, node: geoloc.NSSensorData, id: itemID(d.readings[0].Time), payload: sensorData(d.readings), ok: &c.st.readings})
	}
	t.n.Store(int32(len(ops)))
	for _, op := range ops {
		b.publish(op)
	}
}

// check completes and validates what a message carries before its device
// is looked up or provisioned: a message with nothing to store, or with a
// payload the hub would refuse, provisions nothing. Times missing from a
// live message are its receipt time; a retained message without a time is
// ignored, since the broker replays it at every subscription and each
// replay would be a new current fix.
func (b *Bridge) check(d *decoded, j job) error {
	if d.geo == nil && len(d.readings) == 0 {
		return errIgnored // nothing to store
	}
	untimed := d.geo != nil && d.geo.Timestamp == nil
	for _, r := range d.readings {
		untimed = untimed || r.Time.IsZero()
	}
	if untimed && j.msg.Retained() {
		return errIgnored
	}
	if d.geo != nil && d.geo.Timestamp == nil {
		at := j.at
		d.geo.Timestamp = &at
	}
	at := j.at
	if d.geo != nil {
		at = *d.geo.Timestamp
	}
	for i := range d.readings {
		if d.readings[i].Time.IsZero() {
			d.readings[i].Time = at
		}
	}
	if b.accounts.Exists(d.name) {
		return nil // the publish checks it (the hub's own checks)
	}
	// A tracker's first message is checked as the hub will check it
	// before an account is made for it.
	if d.geo != nil {
		if _, err := geoloc.Decode(d.geo.Encode(), j.at); err != nil {
			return malformed("%v", err)
		}
	}
	if len(d.readings) > 0 {
		root, err := xmlnode.Parse(sensorData(d.readings), "")
		if err == nil {
			_, err = geoloc.ParseSensorData(root, j.at)
		}
		if err != nil {
			return malformed("%v", err)
		}
	}
	return nil
}

// decode reads a message by its topic: OwnTracks, then the JSON location
// template, then the telemetry template. It returns the account name as
// the topic gives it.
func (b *Bridge) decode(topic string, payload []byte) (decoded, error) {
	p := b.p
	if isOwnTopic(p.OutPrefix, topic) {
		return decoded{}, errLooped
	}
	if p.OwnTracks != "" {
		if user, dev, _, ok := ownTracksTopic(p.OwnTracks, topic); ok {
			doc, err := object(payload, p.Origin)
			if err != nil {
				return decoded{}, err
			}
			d, err := decodeOwnTracks(doc)
			if err != nil {
				return d, err
			}
			if d.name, err = renderName(p.ownName, user, dev); err != nil {
				return d, refuse("%v", err)
			}
			return d, nil
		}
	}
	if p.json != nil {
		if dev, ok := p.json.match(topic); ok {
			doc, err := object(payload, p.Origin)
			if err != nil {
				return decoded{}, err
			}
			d, err := decodeJSON(doc, p.fields)
			d.name = dev
			return d, err
		}
	}
	if p.telemetry != nil {
		if dev, ok := p.telemetry.match(topic); ok {
			doc, err := object(payload, p.Origin)
			if err != nil {
				return decoded{}, err
			}
			d, err := decodeTelemetry(doc, p.fields["time"])
			d.name = dev
			return d, err
		}
	}
	return decoded{}, errIgnored // a topic no mapping claims
}

func isPayloadError(err error) bool {
	var pe *payloadError
	if errors.As(err, &pe) {
		return true
	}
	var he *hub.PublishError
	return errors.As(err, &he) && he.Condition == "bad-request"
}

// refusal is a message refused for its device: the name its topic gives,
// or the account that name stands for. Sending it again would be refused
// again, so it is acknowledged and counted.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

func isRefusal(err error) bool {
	var r *refusal
	return errors.As(err, &r)
}

// Retries of what failed for the hub's fault (a database error): retries
// attempts after the first, waiting retryFirst, then twice as long each
// time, up to retryMax. Variables for the tests.
var (
	retries    = 6
	retryFirst = 50 * time.Millisecond
	retryMax   = 2 * time.Second
)

func retryWait(attempt int) time.Duration {
	return min(retryFirst<<attempt, retryMax)
}

// retry runs f until it succeeds, fails with an error that a retry cannot
// fix (a refusal, or a sentinel), the retries are used up or the bridge
// stops; it returns f's last error. It blocks the worker meanwhile: the
// broker waits.
func (b *Bridge) retry(f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || isRefusal(err) || isPayloadError(err) || errors.Is(err, errIgnored) || errors.Is(err, errLooped) ||
			attempt >= retries {
			return err
		}
		select {
		case <-time.After(retryWait(attempt)):
		case <-b.stop:
			return err
		}
	}
}

// device returns the account a topic's name stands for, provisioning an
// MQTT-only device when that is allowed and asked for (else an unknown
// device is errIgnored). It refuses (a *refusal) a name that is not an
// account name in its canonical form (so that ALICE or a fullwidth ａｌｉｃｅ
// does not publish as alice), an account that is not a device, one not
// provisioned for MQTT when only those are accepted, and an unknown name
// when provisioning is off, the name is not one the bridge provisions or
// the provisioning rate is exceeded. Any other error (the database) may
// go away on a retry.
func (b *Bridge) device(name string, provision bool) (account string, created bool, err error) {
	norm, err := devices.NormalizeName(name)
	if err != nil {
		return "", false, refuse("%v", err)
	}
	if norm != name {
		return "", false, refuse("%q is not an account name as written: the account would be %q", name, norm)
	}
	if a, ok := b.accounts.Get(name); ok {
		switch {
		case a.Role != devices.RoleDevice:
			return "", false, refuse("%s is an %s account, not a device", a.Name, a.Role)
		case b.p.Accept == AcceptMQTT && !a.MQTT:
			return "", false, refuse("%s is not a device provisioned for MQTT (--mqtt-accept %s)", a.Name, AcceptMQTT)
		}
		return a.Name, false, nil
	}
	if !provision {
		return "", false, errIgnored
	}
	if b.p.Unknown != "provision" {
		return "", false, refuse("no device %s, and provisioning is off", name)
	}
	if err := provisionable(name); err != nil {
		return "", false, refuse("%v", err)
	}
	b.provMu.Lock()
	defer b.provMu.Unlock()
	if _, ok := b.accounts.Get(name); ok {
		return b.device(name, false) // provisioned meanwhile
	}
	if !b.provRate.allow(time.Now()) {
		return "", false, refuse("no device %s, and the provisioning rate (--mqtt-provision-rate) is exceeded", name)
	}
	_, err = b.provision(devices.NewAccount{Name: name, Role: devices.RoleDevice, Groups: []string{b.p.Group}, MQTT: true})
	if errors.Is(err, devices.ErrExists) {
		return b.device(name, false) // made meanwhile, elsewhere
	}
	if errors.Is(err, devices.ErrReserved) {
		return "", false, refuse("%v", err)
	}
	if err != nil {
		return "", false, fmt.Errorf("provisioning %s: %w", name, err)
	}
	b.log.Info("provisioned an MQTT device", "device", b.accounts.JID(name), "group", b.p.Group)
	return name, true, nil
}

// provisionable checks the name of an account the bridge would create: a
// conservative subset of account names, 1 to 64 of a-z, 0-9, '.', '_' and
// '-', not starting with '.' and without "..", so that what anyone able to
// publish on the broker can create is plain and unambiguous.
func provisionable(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("%q: the bridge provisions names of 1 to 64 characters", name)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return fmt.Errorf("%q: the bridge provisions names of a-z, 0-9, '.', '_' and '-' only", name)
		}
	}
	if name[0] == '.' || strings.Contains(name, "..") {
		return fmt.Errorf("%q: a provisioned name does not start with '.' nor contain \"..\"", name)
	}
	return nil
}

// rateLimit is a token bucket: rate tokens a second, up to burst; rate 0
// means no limit.
type rateLimit struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func (r *rateLimit) allow(now time.Time) bool {
	if r.rate <= 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() {
		r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	}
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

// tracker acknowledges a message once every publish it caused is done.
type tracker struct {
	c     *conn
	msg   mqtt.Message
	topic string
	name  string    // the account
	at    time.Time // when it arrived (monotonic)
	gen   uint64    // the network connection it came on
	live  bool      // not a retained message: a sign of life
	n     atomic.Int32
	// failed: a publish failed for the hub's fault and its retries are
	// used up; the message is not acknowledged.
	failed atomic.Bool
	heard  atomic.Bool // a publish succeeded
}

// pubOp is one publish of a message, retried while it fails for the
// hub's fault.
type pubOp struct {
	t        *tracker
	node, id string
	payload  []byte
	ok       *atomic.Uint64 // counted when stored
	attempt  int
}

func (b *Bridge) publish(op *pubOp) {
	b.publishPEP(op.t.name, op.node, op.id, op.payload, op.done)
}

func (op *pubOp) done(err error) {
	t := op.t
	c, b := t.c, t.c.b
	var pe *hub.PublishError
	switch {
	case err == nil:
		op.ok.Add(1)
		if t.live && !t.heard.Swap(true) {
			b.heardQ.push(t.name, t.at) // the device is online once it is stored
		}
	case errors.As(err, &pe) && pe.Refused() && isPayloadError(err):
		b.refusedLog(t.topic, "malformed payload", err)
		c.st.malformed.Add(1)
	case errors.As(err, &pe) && pe.Refused():
		b.refusedLog(t.topic, "refused", err)
		c.st.refused.Add(1)
	default:
		c.st.failed.Add(1)
		if op.attempt < retries && !b.stopped.Load() {
			wait := retryWait(op.attempt)
			op.attempt++
			b.refusedLog(t.topic, "not stored; trying again in "+wait.String(), err)
			time.AfterFunc(wait, func() {
				if b.stopped.Load() {
					t.failed.Store(true)
					t.finish()
					return
				}
				b.publish(op)
			})
			return
		}
		t.failed.Store(true)
		b.refusedLog(t.topic, "not stored; reconnecting so that the broker sends it again", err)
		c.forceReconnect(t.gen)
	}
	t.finish()
}

// finish counts one publish of the message done; after the last, the
// message is acknowledged unless one failed for the hub's fault.
func (t *tracker) finish() {
	if t.n.Add(-1) == 0 && !t.failed.Load() {
		t.c.acks.push(t.msg)
	}
}

// sensorData is readings as an XEP-0323 <fields/> element, grouped by time.
func sensorData(rs []geoloc.Reading) []byte {
	b := []byte("<fields xmlns='" + geoloc.NSSensorData + "' seqnr='0' done='true'>")
	for i, r := range rs {
		if i == 0 || !r.Time.Equal(rs[i-1].Time) {
			if i > 0 {
				b = append(b, "</timestamp>"...)
			}
			b = xmlesc.Attr(append(b, "<timestamp"...), "value", r.Time.UTC().Format(time.RFC3339Nano))
			b = append(b, '>')
		}
		b = xmlesc.Attr(append(b, "<numeric"...), "name", r.Sensor)
		b = xmlesc.Attr(b, "value", strconv.FormatFloat(r.Value, 'g', -1, 64))
		if r.Unit != "" {
			b = xmlesc.Attr(b, "unit", r.Unit)
		}
		b = append(b, " momentary='true' automaticReadout='true'/>"...)
	}
	return append(b, "</timestamp></fields>"...)
}

// ackQueue holds messages to acknowledge. push never blocks: it runs on
// the committer's and pubsub's goroutines. paho's Ack may block while the
// connection writes, so a goroutine of its own calls it.
type ackQueue struct {
	mu   sync.Mutex
	msgs []mqtt.Message
	wake chan struct{}
}

func (q *ackQueue) push(m mqtt.Message) {
	q.mu.Lock()
	q.msgs = append(q.msgs, m)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (c *conn) ackLoop() {
	var batch []mqtt.Message
	for {
		stopping := false
		select {
		case <-c.acks.wake:
		case <-c.b.stop:
			stopping = true
		}
		c.acks.mu.Lock()
		batch, c.acks.msgs = c.acks.msgs, batch[:0]
		c.acks.mu.Unlock()
		for i, m := range batch {
			m.Ack()
			batch[i] = nil
		}
		c.st.acked.Add(uint64(len(batch)))
		if stopping {
			return
		}
	}
}
