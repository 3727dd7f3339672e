package component

import (
	"strconv"
	"sync"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/tracking"
)

// The live stream across the fleet. An instance whose dashboard has a
// live stream open follows its peers: it asks each for its devices' new
// positions (<watch xmlns='urn:geohub:shard:0'/>, an IQ set) and asks
// again every leaseRenew; a peer sends them to every instance that asked
// within leaseTime, at most every liveEvery, coalesced per device, as
//
//	<message><positions xmlns='urn:geohub:shard:0'><device …/>…</positions></message>
//
// Why over the component link rather than one dashboard reading the
// others' streams: the link already joins the instances, authenticated,
// through the upstream; nothing more to configure (no dashboards'
// addresses or tokens), and a lease ends the forwarding to an instance
// that stopped or no longer watches without any goodbye.
//
// Memory, whatever the followers do: a peer keeps at most one pending
// position per device of its own, for all followers together, and what it
// sends waits in the link's bounded queue (Config.MaxQueued), beyond which
// it is dropped and counted; a slow follower gets fewer, later updates.

const (
	liveEvery  = 250 * time.Millisecond
	leaseRenew = 10 * time.Second
	leaseTime  = 3 * leaseRenew
)

type live struct {
	s *Shard

	mu        sync.Mutex
	followers map[int]func([]tracking.Remote) // this instance's streams
	next      int
	renewed   time.Time                  // when the peers were last asked
	watchers  map[string]time.Time       // peer -> when its lease ends
	pending   map[string]geoloc.Position // this instance's devices' news for the watchers
}

// start watches this instance's positions and starts the sender.
func (l *live) start(s *Shard) {
	l.s, l.followers, l.watchers, l.pending = s, map[int]func([]tracking.Remote){}, map[string]time.Time{}, map[string]geoloc.Position{}
	s.Geo.WatchPositions(l.position)
	go l.run()
}

// position notes a new fix on the database writer's goroutine, when some
// peer watches.
func (l *live) position(p geoloc.Position) {
	l.mu.Lock()
	if len(l.watchers) > 0 {
		l.pending[p.Device] = p
	}
	l.mu.Unlock()
}

// watched renews a peer's lease.
func (l *live) watched(peer string) {
	l.mu.Lock()
	l.watchers[peer] = time.Now().Add(leaseTime)
	l.mu.Unlock()
}

// follow adds a follower; the peers are asked at the next tick.
func (l *live) follow(f func([]tracking.Remote)) (stop func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.next
	l.next++
	if len(l.followers) == 0 {
		l.renewed = time.Time{}
	}
	l.followers[id] = f
	return func() {
		l.mu.Lock()
		delete(l.followers, id)
		l.mu.Unlock()
	}
}

// linked asks the peers again once the link is back.
func (l *live) linked() {
	l.mu.Lock()
	l.renewed = time.Time{}
	l.mu.Unlock()
}

// received hands a peer's positions to the followers.
func (l *live) received(hits []tracking.Remote) {
	l.mu.Lock()
	fs := make([]func([]tracking.Remote), 0, len(l.followers))
	for _, f := range l.followers {
		fs = append(fs, f)
	}
	l.mu.Unlock()
	for _, f := range fs {
		f(hits)
	}
}

// run renews this instance's leases at its peers and sends the watchers
// what changed, until the link closes.
func (l *live) run() {
	t := time.NewTicker(liveEvery)
	defer t.Stop()
	for {
		select {
		case <-l.s.Link.done:
			return
		case <-t.C:
		}
		now := time.Now()
		l.mu.Lock()
		renew := len(l.followers) > 0 && now.Sub(l.renewed) >= leaseRenew && l.s.Link.Ready() == nil
		if renew {
			l.renewed = now
		}
		var to []string
		for peer, end := range l.watchers {
			if now.After(end) {
				delete(l.watchers, peer)
			} else {
				to = append(to, peer)
			}
		}
		var pos map[string]geoloc.Position // taken whole, so read without the lock
		if len(l.pending) > 0 {
			pos, l.pending = l.pending, make(map[string]geoloc.Position, len(l.pending))
		}
		l.mu.Unlock()
		if renew {
			for i, peer := range l.s.Peers {
				b := iqHead("set", l.s.Link.Domain(), peer, "watch"+strconv.Itoa(i))
				l.s.Link.Send(append(b, "><watch xmlns='"+NSShard+"'/></iq>"...))
			}
		}
		if len(to) > 0 && len(pos) > 0 {
			l.send(to, pos)
		}
	}
}

// send writes the positions to each watcher, pageSize to a message.
func (l *live) send(to []string, pos map[string]geoloc.Position) {
	var bodies [][]byte
	var b []byte
	n := 0
	for _, p := range pos {
		if n%pageSize == 0 {
			if b != nil {
				bodies = append(bodies, append(b, "</positions>"...))
			}
			b = []byte("><positions xmlns='" + NSShard + "'>")
		}
		n++
		b = appendHit(b, "positions", &hit{Position: p}, l.s.Accounts, l.s.Geo)
	}
	bodies = append(bodies, append(b, "</positions>"...))
	for _, peer := range to {
		for _, body := range bodies {
			m := append([]byte("<message"), attrs(l.s.Link.Domain(), peer, "")...)
			l.s.Link.Send(append(append(m, body...), "</message>"...))
		}
	}
}
