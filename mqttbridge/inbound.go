package mqttbridge

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/internal/xmlesc"
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
	case q <- job{c: c, msg: m, at: time.Now().UTC()}:
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
func (b *Bridge) handle(j job) {
	c, topic := j.c, j.msg.Topic()
	d, err := b.decode(topic, j.msg.Payload())
	if err == nil && d.geo != nil && !b.accounts.Exists(d.name) {
		// A tracker's first fix is checked as the hub will check it
		// before an account is made for it: a refused payload provisions
		// nothing. (Later fixes are checked by the publish alone.)
		if _, verr := geoloc.Decode(d.geo.Encode(), j.at); verr != nil {
			err = malformed("%v", verr)
		}
	}
	if err == nil {
		// A last will only tells of a device the hub knows.
		var created bool
		d.name, created, err = b.device(d.name, !d.offline)
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
	default:
		b.refusedLog(topic, "refused", err)
		c.st.refused.Add(1)
		c.acks.push(j.msg)
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
	t := &tracker{c: c, msg: j.msg, topic: topic}
	if d.geo != nil {
		if d.geo.Timestamp == nil {
			at := j.at
			d.geo.Timestamp = &at
		}
		t.n.Add(1)
	}
	if len(d.readings) > 0 {
		t.n.Add(1)
	}
	if t.n.Load() == 0 {
		c.acks.push(j.msg) // nothing to store
		return
	}
	if !j.msg.Retained() {
		// A retained message is the broker's memory, replayed because the
		// bridge subscribed: no sign that the device is there now.
		b.heard(d.name)
	}
	at := j.at
	if d.geo != nil {
		at = *d.geo.Timestamp
	}
	if d.geo != nil {
		b.hub.PublishPEP(d.name, geoloc.NS, itemID(*d.geo.Timestamp), d.geo.Encode(), t.fixDone)
	}
	if len(d.readings) > 0 {
		for i := range d.readings {
			if d.readings[i].Time.IsZero() {
				d.readings[i].Time = at
			}
		}
		b.hub.PublishPEP(d.name, geoloc.NSSensorData, itemID(d.readings[0].Time), sensorData(d.readings), t.readingsDone)
	}
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
			d.name = renderName(p.ownName, user, dev)
			return d, err
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

// device returns the account a topic's name stands for, provisioning an
// MQTT-only device when that is allowed and asked for (else an unknown
// device is errIgnored). Only device accounts take fixes from MQTT: a
// topic naming an operator is refused.
func (b *Bridge) device(name string, provision bool) (account string, created bool, err error) {
	if a, ok := b.accounts.Get(name); ok {
		if a.Role != devices.RoleDevice {
			return "", false, fmt.Errorf("%s is an %s account, not a device", a.Name, a.Role)
		}
		return a.Name, false, nil
	}
	norm, err := devices.NormalizeName(name)
	if err != nil {
		return "", false, err
	}
	if !provision {
		return "", false, errIgnored
	}
	if b.p.Unknown != "provision" {
		return "", false, fmt.Errorf("no device %s, and provisioning is off", norm)
	}
	b.provMu.Lock()
	defer b.provMu.Unlock()
	if _, ok := b.accounts.Get(norm); ok {
		return b.device(norm, false) // provisioned meanwhile
	}
	_, err = b.accounts.Add(devices.NewAccount{Name: norm, Role: devices.RoleDevice, Groups: []string{b.p.Group}, MQTT: true})
	if errors.Is(err, devices.ErrExists) {
		return b.device(norm, false) // made meanwhile, elsewhere
	}
	if err != nil {
		return "", false, fmt.Errorf("provisioning %s: %w", norm, err)
	}
	b.log.Info("provisioned an MQTT device", "device", b.accounts.JID(norm), "group", b.p.Group)
	return norm, true, nil
}

// tracker acknowledges a message once every publish it caused is done.
type tracker struct {
	c      *conn
	msg    mqtt.Message
	topic  string
	n      atomic.Int32
	failed atomic.Bool // a publish failed in a way that a retry may fix: no ack
}

func (t *tracker) fixDone(err error) {
	if err == nil {
		t.c.st.fixes.Add(1)
	}
	t.done(err)
}

func (t *tracker) readingsDone(err error) {
	if err == nil {
		t.c.st.readings.Add(1)
	}
	t.done(err)
}

func (t *tracker) done(err error) {
	b := t.c.b
	if err != nil {
		var pe *hub.PublishError
		switch {
		case errors.As(err, &pe) && pe.Refused() && isPayloadError(err):
			b.refusedLog(t.topic, "malformed payload", err)
			t.c.st.malformed.Add(1)
		case errors.As(err, &pe) && pe.Refused():
			b.refusedLog(t.topic, "refused", err)
			t.c.st.refused.Add(1)
		default:
			t.failed.Store(true)
			b.refusedLog(t.topic, "not stored; the broker will send it again", err)
			t.c.st.failed.Add(1)
		}
	}
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
