package dashboard

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/tracking"
	"github.com/labstack/echo/v4"
)

// The live stream (GET /api/stream) is Server-Sent Events:
//
//	event: positions  data: a FeatureCollection of the positions that changed
//	event: presence   data: {"device","name","online"}
//	event: alert      data: an alert, as in /api/alerts
//	event: ack        data: an acknowledged alert, as in /api/alerts
//	event: fence      data: a fence stored (added or replaced), as in /api/fences/{id}
//	event: fence-removed  data: {"id"} of a fence removed
//
// and a keep-alive comment every 15 s. Each client sees only what its
// viewer may see.
//
// One broker goroutine gathers what changed: positions coalesced per device
// (a device that moved twice is sent once, where it is now), presence and
// alerts in order. At most every StreamInterval it encodes each changed
// position once and offers the batch to every client, which keeps its own
// pending positions (coalesced again, per device) and events. Each
// client's handler writes what is pending as one write. A slow client thus
// gets fewer, fuller updates and costs at most one pending position per
// device it sees; it is cut off when its pending events pass
// maxClientEvents or one write takes longer than streamWriteTimeout, and
// its browser reconnects (EventSource does so by itself).
//
// In a sharded deployment (Config.Fleet) the peers' devices' positions
// join the same pending positions while any stream is open
// (internal/component/live.go).

// Stream limits.
const (
	keepAliveEvery     = 15 * time.Second
	streamWriteTimeout = 10 * time.Second
	maxClientEvents    = 4096
	maxStreamClients   = 2000
)

type streamEvent struct {
	kind   string        // presence, alert, ack, fence, fence-removed
	device string        // bare JID: who may see it
	fence  *geoloc.Fence // or, for fence events, the fence they may read
	unless *geoloc.Fence // and, if set, may not read this one
	data   []byte
}

// shownTo reports whether the viewer gets the event.
func (e *streamEvent) shownTo(v *viewer) bool {
	if e.fence == nil {
		return v.seesJID(e.device)
	}
	return fenceVisible(v, e.fence) && (e.unless == nil || !fenceVisible(v, e.unless))
}

// feature is one changed position, encoded.
type feature struct {
	device string
	json   []byte
}

type broker struct {
	s        *Server
	interval time.Duration

	mu       sync.Mutex
	pending  map[string]tracking.Remote // Instance empty: this one's
	events   []streamEvent
	clients  map[*client]struct{}
	closed   bool
	unfollow func() // while streams are open in a fleet: stops the peers' positions

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newBroker(s *Server) *broker {
	b := &broker{s: s, interval: s.cfg.StreamInterval, pending: map[string]tracking.Remote{},
		clients: map[*client]struct{}{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.cfg.Geo.WatchPositions(b.position)
	s.cfg.Geo.AddSink(b.alerts)
	s.cfg.Accounts.WatchOnline(b.presence)
	s.cfg.Geo.WatchFences(b.fenceChanged)
	go b.run()
	return b
}

func (b *broker) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// position is told of each new latest position, on the database writer's
// goroutine: it only notes it, and only while a stream is open (a client
// that opens one later starts from what it loads).
func (b *broker) position(p geoloc.Position) {
	b.mu.Lock()
	if b.closed || len(b.clients) == 0 {
		b.mu.Unlock()
		return
	}
	b.pending[p.Device] = tracking.Remote{Position: p}
	b.mu.Unlock()
	b.signal()
}

// remote notes the peers' devices' new positions (Config.Fleet), on the
// goroutine of the link they came over.
func (b *broker) remote(hits []tracking.Remote) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	for _, h := range hits {
		if p, ok := b.pending[h.Device]; !ok || h.Time.After(p.Time) {
			b.pending[h.Device] = h
		}
	}
	b.mu.Unlock()
	b.signal()
}

func (b *broker) event(e streamEvent) {
	b.mu.Lock()
	if b.closed || len(b.clients) == 0 {
		b.mu.Unlock()
		return
	}
	b.events = append(b.events, e)
	b.mu.Unlock()
	b.signal()
}

// alerts is a geo sink, on the writer's goroutine.
func (b *broker) alerts(es []geoloc.Event) {
	b.s.metrics.alertsRaised.Add(float64(len(es)))
	for _, e := range es {
		data, _ := json.Marshal(alertOut{Event: e})
		b.event(streamEvent{kind: "alert", device: e.Device, data: data})
	}
}

func (b *broker) acked(a geoloc.Alert) {
	data, _ := json.Marshal(alertOf(a))
	b.event(streamEvent{kind: "ack", device: a.Device, data: data})
}

// fenceChanged tells the viewers of a fence that it was stored or removed,
// so that every map shows what another operator, the CLI or a script did.
// A fence replaced by one a viewer may no longer read is removed for them.
func (b *broker) fenceChanged(fc geoloc.FenceChange) {
	removed, _ := json.Marshal(struct {
		ID string `json:"id"`
	}{fc.Fence.ID})
	if fc.Removed {
		b.event(streamEvent{kind: "fence-removed", fence: fc.Fence, data: removed})
		return
	}
	data, _ := json.Marshal(fc.Fence.Feature())
	b.event(streamEvent{kind: "fence", fence: fc.Fence, data: data})
	if fc.Old != nil {
		b.event(streamEvent{kind: "fence-removed", fence: fc.Old, unless: fc.Fence, data: removed})
	}
}

type presenceOut struct {
	Device string `json:"device"`
	Name   string `json:"name"`
	Online bool   `json:"online"`
}

// presence is told when an account comes online or goes offline.
func (b *broker) presence(name string, online bool) {
	jid := b.s.cfg.Accounts.JID(name)
	data, _ := json.Marshal(presenceOut{Device: jid, Name: name, Online: online})
	b.event(streamEvent{kind: "presence", device: jid, data: data})
}

func (b *broker) run() {
	defer close(b.done)
	var last time.Time
	for {
		select {
		case <-b.wake:
		case <-b.stop:
			return
		}
		if wait := b.interval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-b.stop:
				t.Stop()
				return
			}
		}
		last = time.Now()
		b.flush()
	}
}

// flush offers what changed since the last flush to every client.
func (b *broker) flush() {
	b.mu.Lock()
	var pos map[string]tracking.Remote
	if len(b.pending) > 0 {
		pos, b.pending = b.pending, make(map[string]tracking.Remote, len(b.pending))
	}
	events := b.events
	b.events = nil
	clients := make([]*client, 0, len(b.clients))
	for c := range b.clients {
		clients = append(clients, c)
	}
	b.mu.Unlock()
	if len(clients) == 0 || len(pos) == 0 && len(events) == 0 {
		return
	}
	// Each position is encoded once, into one buffer, for all clients.
	feats := make([]feature, 0, len(pos))
	buf := make([]byte, 0, len(pos)*300)
	for _, p := range pos {
		start := len(buf)
		in := b.s.info(&p.Position)
		if p.Instance != "" {
			in = remoteInfo(&p)
		}
		buf = appendPositionFeature(buf, &p.Position, in)
		feats = append(feats, feature{device: p.Device, json: buf[start:len(buf):len(buf)]})
	}
	for _, c := range clients {
		c.offer(feats, events)
	}
}

func (b *broker) add(c *client) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.clients) >= maxStreamClients {
		return false
	}
	b.clients[c] = struct{}{}
	b.s.metrics.streamClients.Set(float64(len(b.clients)))
	if b.s.cfg.Fleet != nil && b.unfollow == nil {
		b.unfollow = b.s.cfg.Fleet.Follow(b.remote)
	}
	return true
}

func (b *broker) remove(c *client) {
	b.mu.Lock()
	delete(b.clients, c)
	b.s.metrics.streamClients.Set(float64(len(b.clients)))
	if len(b.clients) == 0 && b.unfollow != nil {
		b.unfollow()
		b.unfollow = nil
	}
	b.mu.Unlock()
}

// close ends the broker and every stream.
func (b *broker) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	for c := range b.clients {
		c.end()
	}
	b.mu.Unlock()
	close(b.stop)
	<-b.done
}

// client is one open stream.
type client struct {
	s *Server

	mu       sync.Mutex
	v        *viewer
	pos      map[string][]byte // device -> its feature, latest only
	spare    map[string][]byte
	events   []streamEvent
	overflow bool
	gone     bool // the account changed so that the viewer is no more

	wake chan struct{}
	kill chan struct{}
	once sync.Once
}

func (c *client) end() { c.once.Do(func() { close(c.kill) }) }

// offer takes what a flush has for the client's viewer. It runs on the
// broker's goroutine and never blocks on the client.
func (c *client) offer(feats []feature, events []streamEvent) {
	c.mu.Lock()
	if g := c.s.cfg.Accounts.Generation(); g != c.v.gen {
		c.refreshViewer()
	}
	v := c.v
	n := 0
	for _, f := range feats {
		if v.seesJID(f.device) {
			c.pos[f.device] = f.json
			n++
		}
	}
	for _, e := range events {
		if e.shownTo(v) {
			c.events = append(c.events, e)
			n++
		}
	}
	if len(c.events) > maxClientEvents {
		c.overflow, c.events = true, nil
	}
	c.mu.Unlock()
	if n > 0 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// refreshViewer rereads what the account sees after accounts changed;
// c.mu is held.
func (c *client) refreshViewer() {
	a, ok := c.s.cfg.Accounts.Get(c.v.acct.Name)
	if !ok || !a.Role.Watches() || !a.Created.Equal(c.v.acct.Created) {
		c.gone = true
		c.v = &viewer{gen: c.s.cfg.Accounts.Generation(), domain: c.v.domain} // sees nothing
		return
	}
	nv := c.s.newViewer(a)
	nv.sess, nv.token = c.v.sess, c.v.token
	c.v = nv
}

// take returns what is pending and forgets it.
func (c *client) take() (pos map[string][]byte, events []streamEvent, stop bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pos, events = c.pos, c.events
	c.pos, c.spare = c.spare, nil
	if c.pos == nil {
		c.pos = map[string][]byte{}
	}
	c.events = nil
	return pos, events, c.overflow || c.gone
}

// giveBack hands a drained map back for reuse.
func (c *client) giveBack(m map[string][]byte) {
	clear(m)
	c.mu.Lock()
	if c.spare == nil {
		c.spare = m
	}
	c.mu.Unlock()
}

// stillAllowed reports whether the login or token a stream was opened with
// still holds. The account itself is checked when the accounts change
// (refreshViewer).
func (s *Server) stillAllowed(v *viewer) bool {
	if v.sess != nil {
		return !v.sess.dead.Load()
	}
	return s.cfg.Tokens.Valid(v.token)
}

func (s *Server) streamHandler(c echo.Context) error {
	v := viewerOf(c)
	cl := &client{s: s, v: v, pos: map[string][]byte{}, wake: make(chan struct{}, 1), kill: make(chan struct{})}
	if !s.stream.add(cl) {
		return apiError(http.StatusServiceUnavailable, "too many live streams open; try again later")
	}
	defer s.stream.remove(cl)
	w := c.Response()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 2000\n: connected\n\n")) {
		return nil
	}
	keepAlive := time.NewTicker(keepAliveEvery)
	defer keepAlive.Stop()
	ctx := c.Request().Context()
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-cl.kill:
			return nil
		case <-keepAlive.C:
			if !s.stillAllowed(v) {
				return nil
			}
			if !write([]byte(": keep-alive\n\n")) {
				s.metrics.streamDropped.Inc()
				return nil
			}
			continue
		case <-cl.wake:
		}
		if !s.stillAllowed(v) {
			return nil // logged out, expired or revoked
		}
		pos, events, stop := cl.take()
		if stop {
			s.metrics.streamDropped.Inc()
			return nil
		}
		buf = buf[:0]
		if len(pos) > 0 {
			buf = append(buf, "event: positions\ndata: "+fcStart...)
			n := 0
			for _, f := range pos {
				if n > 0 {
					buf = append(buf, ',')
				}
				n++
				buf = append(buf, f...)
			}
			buf = append(buf, fcEnd+"\n\n"...)
		}
		cl.giveBack(pos)
		for _, e := range events {
			buf = append(buf, "event: "+e.kind+"\ndata: "...)
			buf = append(buf, e.data...)
			buf = append(buf, "\n\n"...)
		}
		if len(buf) == 0 {
			continue
		}
		if !write(buf) {
			s.metrics.streamDropped.Inc()
			return nil
		}
		if cap(buf) > 1<<20 {
			buf = nil // a burst's buffer is not kept
		}
	}
}
