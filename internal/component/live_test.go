package component

import (
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/tracking"
	"github.com/tidwall/buntdb"
)

// router stands in for the upstream between instances: it takes the
// XEP-0114 handshake of any domain and passes each element to the link of
// the domain its to names; what is for nobody is dropped.
type router struct {
	ln    net.Listener
	mu    sync.Mutex
	links map[string]net.Conn
}

var toAttr = regexp.MustCompile(`^<[a-z]+[^>]*?\sto=['"]([^'"/]+)`)

func startRouter(t testing.TB) *router {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &router{ln: ln, links: map[string]net.Conn{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

func (r *router) serve(c net.Conn) {
	defer c.Close()
	sc := newScanner(c, 1<<20)
	head, err := sc.header()
	m := regexp.MustCompile(`to=['"]([^'"]+)`).FindSubmatch(head)
	if err != nil || m == nil {
		return
	}
	domain := string(m[1])
	fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='%s'>", domain)
	if _, err := sc.next(); err != nil { // the handshake: any secret will do
		return
	}
	c.Write([]byte("<handshake/>"))
	r.mu.Lock()
	r.links[domain] = c
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.links, domain)
		r.mu.Unlock()
	}()
	for {
		el, err := sc.next()
		if err != nil {
			return
		}
		if m := toAttr.FindSubmatch(el); m != nil {
			r.mu.Lock()
			if to := r.links[string(m[1])]; to != nil {
				to.Write(el)
			}
			r.mu.Unlock()
		}
	}
}

// testShard is an instance with its own stores, op an admin of it.
func testShard(t testing.TB, r *router, domain, peer string) (*Shard, *geoloc.Store, *store.Committer) {
	db, err := buntdb.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := devices.Open(db, devices.Options{Domain: "localhost", Iterations: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.Add(devices.NewAccount{Name: "op", Role: devices.RoleAdmin, Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	commit := store.NewCommitter(db)
	geo, err := geoloc.OpenStore(db, geoloc.Options{Commit: commit})
	if err != nil {
		t.Fatal(err)
	}
	s := &Shard{Link: New(Config{Domain: domain, Upstream: r.ln.Addr().String(), Secret: "s", Logger: slog.New(slog.DiscardHandler)}), Peers: []string{peer},
		Timeout: 5 * time.Second, Geo: geo, Accounts: accounts}
	s.Start()
	t.Cleanup(func() { s.Link.Close(); commit.Close(); accounts.Close(); db.Close() })
	for deadline := time.Now().Add(10 * time.Second); s.Link.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", domain, s.Link.Ready())
		}
	}
	return s, geo, commit
}

// store commits n fixes, dev-0 … dev-n-1, and waits for them.
func storeFixes(t *testing.T, geo *geoloc.Store, commit *store.Committer, n int, lat float64) {
	var wg sync.WaitGroup
	for i := range n {
		w, then, err := geo.Stage(geoloc.Position{Device: fmt.Sprintf("dev-%d@localhost", i), Lat: lat, Lon: 13.4, Time: time.Now(), Received: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		commit.Submit(w, func(err error) { then(err); wg.Done() })
	}
	wg.Wait()
}

// An instance that follows its peer gets every move of the peer's
// devices, a page at most to a message; asked, the peer answers a list
// longer than a page in full; a peer gone is reported missing.
func TestLivePositionsAndPagesAcrossLinks(t *testing.T) {
	r := startRouter(t)
	a, _, _ := testShard(t, r, "geo-1.localhost", "geo-2.localhost")
	b, geo, commit := testShard(t, r, "geo-2.localhost", "geo-1.localhost")
	const n = 2*pageSize + 17

	got := make(chan []tracking.Remote, 1000)
	stop := a.Follow(func(h []tracking.Remote) { got <- h })
	defer stop()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b.live.mu.Lock()
		_, watched := b.live.watchers["geo-1.localhost"]
		b.live.mu.Unlock()
		if watched {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("geo-1 did not ask geo-2 for its positions")
		}
	}
	storeFixes(t, geo, commit, n, 52.5)
	seen := map[string]bool{}
	for deadline := time.After(10 * time.Second); len(seen) < n; {
		select {
		case hits := <-got:
			if len(hits) > pageSize {
				t.Errorf("a message of %d positions", len(hits))
			}
			for _, h := range hits {
				if h.Instance != "geo-2.localhost" || h.Lat != 52.5 {
					t.Errorf("followed %+v", h)
				}
				seen[h.Device] = true
			}
		case <-deadline:
			t.Fatalf("followed %d of %d devices", len(seen), n)
		}
	}

	hits, statuses := a.Within("op@localhost", tracking.World)
	if len(hits) != n || len(statuses) != 2 || statuses[1] != (tracking.ShardStatus{Instance: "geo-2.localhost", Status: "ok"}) {
		t.Errorf("within: %d devices of %d, statuses %v", len(hits), n, statuses)
	}
	if hits, _ := a.Within("stranger@localhost", tracking.World); len(hits) != 0 {
		t.Errorf("a stranger got %d devices", len(hits))
	}

	b.Link.Close()
	a.Timeout = 300 * time.Millisecond
	if hits, statuses := a.Nearby("op@localhost", 52.5, 13.4, 10, 0); len(hits) != 0 || statuses[1].Status != "missing" || statuses[1].Reason == "" {
		t.Errorf("geo-2 gone: %d devices, statuses %v", len(hits), statuses)
	}
}
