package mqttbridge

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/geohub/geohub/geoloc"
)

// outbox is what waits to be published on one connection. Positions and
// presence are coalesced per device: only the latest matters (they are
// retained), so a broker slower than the fixes gets fewer messages, not a
// growing queue. Alerts are each kept, up to maxQueuedAlerts.
type outbox struct {
	mu        sync.Mutex
	positions map[string]geoloc.Position // by device JID
	presence  map[string]presence        // by account name
	cleared   map[string]bool            // device JIDs whose retained location to clear
	events    []geoloc.Event
	wake      chan struct{}
	dropped   uint64 // alerts dropped because the queue was full
}

type presence struct {
	online bool
	via    string // xmpp: a session; mqtt-lwt: the tracker's last will
	at     time.Time
}

// maxQueuedAlerts bounds the alerts waiting for a broker.
const maxQueuedAlerts = 10_000

func (o *outbox) init() {
	o.positions = map[string]geoloc.Position{}
	o.presence = map[string]presence{}
	o.cleared = map[string]bool{}
	o.wake = make(chan struct{}, 1)
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) position(p geoloc.Position) {
	o.mu.Lock()
	o.positions[p.Device] = p
	delete(o.cleared, p.Device)
	o.mu.Unlock()
	o.signal()
}

// removed queues the clearing of a removed device's retained location (an
// empty retained message deletes it at the broker).
func (o *outbox) removed(device string) {
	o.mu.Lock()
	delete(o.positions, device)
	o.cleared[device] = true
	o.mu.Unlock()
	o.signal()
}

// positionsSnapshot queues every device's position, except where a newer
// one is already queued.
func (o *outbox) positionsSnapshot(ps []geoloc.Position) {
	o.mu.Lock()
	for _, p := range ps {
		if cur, ok := o.positions[p.Device]; !ok || p.Time.After(cur.Time) {
			o.positions[p.Device] = p
		}
	}
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) alerts(es []geoloc.Event) {
	o.mu.Lock()
	for _, e := range es {
		if len(o.events) >= maxQueuedAlerts {
			o.dropped++
			continue
		}
		o.events = append(o.events, e)
	}
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) status(name string, online bool, via string) {
	o.mu.Lock()
	o.presence[name] = presence{online: online, via: via, at: time.Now().UTC()}
	o.mu.Unlock()
	o.signal()
}

// publishLoop publishes what the outbox holds whenever it is told to,
// while the connection is up (and subscribed, and its session resumed):
// meanwhile positions and presence are coalesced in the outbox and alerts
// wait there (up to maxQueuedAlerts), and onConnect wakes the loop. The
// snapshot of positions at each connect replaces what a broker lost.
func (c *conn) publishLoop() {
	b, o := c.b, &c.out
	positions, pres, cleared := map[string]geoloc.Position{}, map[string]presence{}, map[string]bool{}
	var events []geoloc.Event
	var buf []byte
	for {
		select {
		case <-o.wake:
		case <-b.stop:
			return
		}
		c.mu.Lock()
		up := c.connected
		c.mu.Unlock()
		if !up {
			continue
		}
		o.mu.Lock()
		positions, o.positions = o.positions, positions
		pres, o.presence = o.presence, pres
		cleared, o.cleared = o.cleared, cleared
		events, o.events = o.events, events[:0]
		o.mu.Unlock()
		prefix, origin := b.p.OutPrefix, b.p.Origin
		for _, p := range positions {
			buf = b.positionJSON(buf[:0], p)
			c.publish(prefix+"/"+topicLevel(local(p.Device))+"/location", b.p.PositionQoS, true, buf)
		}
		clear(positions)
		for device := range cleared {
			c.publish(prefix+"/"+topicLevel(local(device))+"/location", b.p.PositionQoS, true, nil)
		}
		clear(cleared)
		for name, s := range pres {
			buf = statusJSON(buf[:0], b.accounts.JID(name), s, origin)
			c.publish(prefix+"/"+topicLevel(name)+"/status", b.p.QoS, true, buf)
		}
		clear(pres)
		for i, e := range events {
			payload, err := json.Marshal(struct {
				geoloc.Event
				Origin string `json:"_geohub"`
			}{e, origin})
			if err == nil {
				c.publish(prefix+"/alerts/"+topicLevel(e.Fence), b.p.QoS, false, payload)
			}
			events[i] = geoloc.Event{}
		}
	}
}

// publish hands a message to paho, which copies nothing: payload must not
// be reused until paho has written it, so it is copied here.
func (c *conn) publish(topic string, qos byte, retained bool, payload []byte) {
	c.client.Publish(topic, qos, retained, append([]byte(nil), payload...))
	c.st.published.Add(1)
}

func local(jid string) string {
	name, _, _ := strings.Cut(jid, "@")
	return name
}

// positionJSON is a position as GeoHub JSON or as an OwnTracks location.
func (b *Bridge) positionJSON(buf []byte, p geoloc.Position) []byte {
	g := p.Geoloc
	if b.p.OutFormat == "owntracks" {
		buf = append(buf, `{"_type":"location","lat":`...)
		buf = strconv.AppendFloat(buf, p.Lat, 'f', -1, 64)
		buf = append(buf, `,"lon":`...)
		buf = strconv.AppendFloat(buf, p.Lon, 'f', -1, 64)
		buf = append(buf, `,"tst":`...)
		buf = strconv.AppendInt(buf, p.Time.Unix(), 10)
		for _, f := range []struct {
			name  string
			v     *float64
			scale float64
		}{{"acc", g.Accuracy, 1}, {"alt", g.Alt, 1}, {"vac", g.AltAccuracy, 1}, {"vel", g.Speed, 3.6}, {"cog", g.Bearing, 1}} {
			if f.v != nil {
				buf = append(buf, `,"`+f.name+`":`...)
				buf = strconv.AppendInt(buf, int64(math.Round(*f.v*f.scale)), 10)
			}
		}
		name := local(p.Device)
		if len(name) > 2 {
			name = name[len(name)-2:]
		}
		buf = appendField(buf, "tid", name)
	} else {
		buf = appendField(append(buf, '{'), "device", p.Device)
		buf = append(buf, `,"lat":`...)
		buf = strconv.AppendFloat(buf, p.Lat, 'f', -1, 64)
		buf = append(buf, `,"lon":`...)
		buf = strconv.AppendFloat(buf, p.Lon, 'f', -1, 64)
		buf = appendField(buf, "time", p.Time.UTC().Format(time.RFC3339Nano))
		for _, f := range []struct {
			name string
			v    *float64
		}{{"accuracy", g.Accuracy}, {"alt", g.Alt}, {"altaccuracy", g.AltAccuracy}, {"speed", g.Speed}, {"bearing", g.Bearing}} {
			if f.v != nil {
				buf = append(buf, `,"`+f.name+`":`...)
				buf = strconv.AppendFloat(buf, *f.v, 'f', -1, 64)
			}
		}
		if g.Text != "" {
			buf = appendField(buf, "text", g.Text)
		}
	}
	return append(appendField(buf, "_geohub", b.p.Origin), '}')
}

func statusJSON(buf []byte, device string, s presence, origin string) []byte {
	buf = appendField(append(buf, '{'), "device", device)
	buf = append(buf, `,"online":`...)
	buf = strconv.AppendBool(buf, s.online)
	buf = appendField(buf, "via", s.via)
	buf = appendField(buf, "time", s.at.Format(time.RFC3339Nano))
	return append(appendField(buf, "_geohub", origin), '}')
}

// hubStatus is the retained message on <prefix>/status: the last will
// says offline.
func hubStatus(origin string, online bool) []byte {
	buf := []byte(`{"online":`)
	buf = strconv.AppendBool(buf, online)
	return append(appendField(buf, "_geohub", origin), '}')
}

// appendField appends ,"name":"value" (without the comma after '{').
func appendField(buf []byte, name, value string) []byte {
	if n := len(buf); n > 0 && buf[n-1] != '{' {
		buf = append(buf, ',')
	}
	buf = append(buf, '"')
	buf = append(buf, name...)
	buf = append(buf, `":`...)
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			v, _ := json.Marshal(value) // the rare string that needs escaping
			return append(buf, v...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, value...)
	return append(buf, '"')
}
