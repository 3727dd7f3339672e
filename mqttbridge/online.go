package mqttbridge

import (
	"sync"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
)

// Online state of MQTT devices. A device the bridge hears from (a fix or
// readings it takes, not a retained message the broker replays on
// subscribing) comes online: the bridge counts one session for it in the
// account store (devices.Store.SetOnline), so that the dashboard and the
// status topic see it online, and shows it to its XMPP watchers as the
// available resource <device>/mqtt (hub.Server.SetRemotePresence). It
// holds at most one such session per device, whatever the number of
// brokers, and gives it back, once, on the tracker's last will, after
// OfflineAfter of silence, when the account is removed, or when the bridge
// closes. Sessions count up in the store, so a device that also has XMPP
// sessions stays online until the last of them, the bridge's included,
// ends. A restarted bridge holds nothing until it hears from a device
// again.

// Presence of an MQTT device to XMPP watchers.
const (
	mqttResource = hub.RemoteResource
	mqttStatus   = "via MQTT"
)

// Why a device the bridge held went offline, as the status topic's "via"
// says it.
const (
	viaMQTT    = "mqtt"         // online: the bridge heard it
	viaXMPP    = "xmpp"         // an XMPP session came or the last one went
	viaLWT     = "mqtt-lwt"     // the tracker's last will
	viaTimeout = "mqtt-timeout" // silent for OfflineAfter
	viaRemoved = "removed"      // the account was removed
	viaStopped = "mqtt-stopped" // the bridge closed
)

// liveness is what the bridge needs to hold MQTT devices online: when it
// last heard each. The online state itself is the account store's.
type liveness struct {
	// change serializes devices coming and going (store count, then
	// presence; presence, then store count), so that a device's last
	// broadcast presence matches whether it is held. Taken before mu.
	change sync.Mutex
	// mu guards the maps; it is never held while calling out of the
	// bridge, so the online watcher (which the store calls from inside
	// SetOnline) may take it.
	mu      sync.Mutex
	held    map[string]time.Time // by account: when it was last heard (monotonic)
	leaving map[string]string    // by account, while it goes offline: why
	// gone is when the bridge last let each device go: a message that
	// arrived before (stored after its last will was handled) is no sign
	// of life.
	gone map[string]time.Time
}

// heardQueue holds the devices whose messages were stored, for heardLoop
// to bring online. push never blocks: it runs on the committer's and
// pubsub's goroutines, which the presence broadcast must not hold up.
type heardQueue struct {
	mu    sync.Mutex
	items []heardItem
	wake  chan struct{}
}

type heardItem struct {
	name string
	at   time.Time // when the message arrived
}

func (q *heardQueue) push(name string, at time.Time) {
	q.mu.Lock()
	q.items = append(q.items, heardItem{name, at})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// heardLoop brings online the devices the bridge stored messages of.
func (b *Bridge) heardLoop() {
	var batch []heardItem
	for {
		select {
		case <-b.heardQ.wake:
		case <-b.stop:
			return
		}
		b.heardQ.mu.Lock()
		batch, b.heardQ.items = b.heardQ.items, batch[:0]
		b.heardQ.mu.Unlock()
		for _, h := range batch {
			b.heard(h.name, h.at)
		}
	}
}

// heard records that the bridge stored a message of the device name that
// arrived at; the first time, the device comes online. A message that
// arrived before the bridge last let the device go (its last will, its
// silence) does not bring it back.
func (b *Bridge) heard(name string, at time.Time) {
	l := &b.live
	now := time.Now()
	l.mu.Lock()
	if g, ok := l.gone[name]; ok && !at.After(g) {
		l.mu.Unlock()
		return
	}
	if _, ok := l.held[name]; ok {
		l.held[name] = now
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()

	l.change.Lock()
	defer l.change.Unlock()
	if b.stopped.Load() || !b.accounts.Exists(name) {
		return // a removed account stays gone; a closed bridge holds nothing
	}
	l.mu.Lock()
	if g, ok := l.gone[name]; ok && !at.After(g) {
		l.mu.Unlock()
		return
	}
	delete(l.gone, name)
	_, ok := l.held[name]
	l.held[name] = now
	l.mu.Unlock()
	if ok {
		return // came online meanwhile, through another broker
	}
	b.accounts.SetOnline(name, true)
	if err := b.hub.SetRemotePresence(name, mqttResource, true, mqttStatus); err != nil {
		b.log.Debug("presence", "device", name, "err", err)
	}
	b.log.Debug("online", "device", b.accounts.JID(name))
}

// release makes the device name offline if the bridge holds it and
// expired (nil: always) says so of when it was last heard. It reports
// whether it did.
func (b *Bridge) release(name, why string, expired func(last time.Time) bool) bool {
	l := &b.live
	l.change.Lock()
	defer l.change.Unlock()
	l.mu.Lock()
	last, ok := l.held[name]
	if expired == nil {
		// Let go for good (a last will, the account removed, the bridge
		// closing), held or not: a message stored later but received
		// before does not bring the device back.
		l.gone[name] = time.Now().UTC()
	}
	if !ok || expired != nil && !expired(last) {
		l.mu.Unlock()
		return false
	}
	delete(l.held, name)
	l.leaving[name] = why
	l.gone[name] = time.Now().UTC()
	l.mu.Unlock()
	// A removed account's presence is the hub's to end: it knows who
	// watched the account, which the store has forgotten by now.
	if why != viaRemoved {
		if err := b.hub.SetRemotePresence(name, mqttResource, false, ""); err != nil {
			b.log.Debug("presence", "device", name, "err", err)
		}
	}
	b.accounts.SetOnline(name, false)
	l.mu.Lock()
	delete(l.leaving, name)
	l.mu.Unlock()
	b.log.Debug("offline", "device", b.accounts.JID(name), "why", why)
	return true
}

// via says, for the status topic, why the account name went online or
// offline: the store calls the online watcher from inside SetOnline, so
// the bridge's own changes are still recorded here when it asks.
func (b *Bridge) via(name string, online bool) string {
	l := &b.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if online {
		if _, ok := l.held[name]; ok {
			return viaMQTT
		}
		return viaXMPP
	}
	if why, ok := l.leaving[name]; ok {
		return why
	}
	return viaXMPP
}

// expire makes devices silent for OfflineAfter offline, checking a tenth
// as often (between 10ms and 30s).
func (b *Bridge) expire() {
	after := b.p.OfflineAfter
	every := min(max(after/10, 10*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	expired := func(last time.Time) bool { return time.Since(last) >= after }
	var names []string
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		names = names[:0]
		b.live.mu.Lock()
		for name, last := range b.live.held {
			if expired(last) {
				names = append(names, name)
			}
		}
		b.live.mu.Unlock()
		for _, name := range names {
			b.release(name, viaTimeout, expired) // unless heard meanwhile
		}
	}
}

// releaseAll makes every device the bridge holds offline; Close calls it.
func (b *Bridge) releaseAll(why string) {
	b.live.mu.Lock()
	names := make([]string, 0, len(b.live.held))
	for name := range b.live.held {
		names = append(names, name)
	}
	b.live.mu.Unlock()
	for _, name := range names {
		b.release(name, why, nil)
	}
}

// accountChanged gives back the session of a removed device and, for any
// removed device, MQTT or XMPP, says on its status topic that it is
// offline and clears its retained location: the online watcher no longer
// finds the account by then.
func (b *Bridge) accountChanged(c devices.Change) {
	if c.Kind != devices.Removed || c.Before == nil || b.stopped.Load() {
		return
	}
	name := c.Before.Name
	b.release(name, viaRemoved, nil)
	if c.Before.Role != devices.RoleDevice || b.p.OutPrefix == "" {
		return
	}
	for _, oc := range b.conns {
		if b.p.out[OutStatus] {
			oc.out.status(name, false, viaRemoved)
		}
		if b.p.out[OutPositions] {
			oc.out.removed(b.accounts.JID(name))
		}
	}
}
