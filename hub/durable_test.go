package hub_test

import (
	"sync"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmpptest"
)

// A roster change waits for its write without holding the rosters' lock:
// while the writer is stuck (a slow sync), another account still reads its
// roster; the change is answered once the writer goes on.
func TestRosterChangeHoldsNoSharedLockWhileItsWriteWaits(t *testing.T) {
	var commit *store.Committer
	h := hubtest.Start(t, func(c *hub.Config) { commit = c.Commit })
	alice := h.Login(t, "alice", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	rosterItems(t, alice) // asks for pushes

	release := holdWriter(t, commit)

	id := alice.ID()
	alice.Send("<iq type='set' id='%s'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol'/></query></iq>", id)
	waitFor(t, "the write queued", func() bool { return commit.Queued() == 1 })
	if items, _ := rosterItems(t, bob); items["carol@localhost"] != nil {
		t.Errorf("bob's roster has alice's contact: %v", items)
	}
	release()
	res := alice.WaitFor("the roster set's answer", func(n *xmpptest.Node) bool { return n.Attr("id") == id })
	if res.Attr("type") != "result" {
		t.Fatalf("roster set: %s", res)
	}
	if items, _ := rosterItems(t, alice); items["carol@localhost"] == nil {
		t.Errorf("alice's roster lacks carol: %v", items)
	}
}

// holdWriter stops commit's writer in a callback until release is called
// (or the test ends), and returns once nothing else waits before it.
func holdWriter(t *testing.T, commit *store.Committer) (release func()) {
	hold := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	commit.Submit(nil, func(error) { <-hold })
	waitFor(t, "the writer held", func() bool { return commit.Queued() == 0 })
	return release
}

// A device removed while a fix of it waits in the committer does not come
// back once the fix is written: no position (the map, geohub where), no
// trail. The removal is ordered behind the fix.
func TestRemovedDeviceWithAQueuedFixStaysGone(t *testing.T) {
	var commit *store.Committer
	h := hubtest.Start(t, func(c *hub.Config) { commit = c.Commit })
	car := h.Login(t, "car", devices.RoleDevice)
	if res := publishGeoloc(car, "1", 52.5, 13.4); res.Attr("type") != "result" {
		t.Fatalf("publish: %s", res)
	}

	release := holdWriter(t, commit)
	car.Send("<iq type='set' id='fix2'><pubsub xmlns='%s'><publish node='%s'><item id='2'>%s</item></publish></pubsub></iq>",
		nsPubSub, nsGeoloc, geoloc(52.6, 13.5))
	waitFor(t, "the write queued", func() bool { return commit.Queued() == 1 })
	removed := make(chan error, 1)
	go func() { removed <- h.Accounts.Remove("car") }()
	waitFor(t, "the removal queued", func() bool { return commit.Queued() >= 2 || len(removed) == 1 })
	release()
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	// Whatever was queued with the fix is written by now.
	done := make(chan error, 1)
	commit.Submit(nil, func(err error) { done <- err })
	<-done
	if p, ok := h.Geo.Latest("car@localhost"); ok {
		t.Errorf("the removed device has a position again: %+v", p)
	}
	if all := h.Geo.All(); len(all) != 0 {
		t.Errorf("positions %+v, want none", all)
	}
	if pts := h.Geo.TrailPoints("car@localhost", time.Now().Add(-time.Hour), time.Now().Add(time.Hour)); len(pts) != 0 {
		t.Errorf("the removed device has a trail again: %+v", pts)
	}
}
