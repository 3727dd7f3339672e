package pubsub_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geohub/geohub/pubsub"
)

// held is a directory whose Interested waits while the test holds it, as
// a hub whose roster lock is taken for long would make it: op@localhost
// sees car@localhost's presence, and its resource asked for notifications.
type held struct {
	nobody
	entered chan struct{} // Interested has been called and waits
	mu      sync.Mutex
	release chan struct{} // closed to let Interested return; nil: no wait
	sees    atomic.Bool
	got     []string // the stanzas delivered, in order
}

func newHeld() *held {
	d := &held{entered: make(chan struct{}, 1)}
	d.sees.Store(true)
	return d
}

func (d *held) hold() {
	d.mu.Lock()
	d.release = make(chan struct{})
	d.mu.Unlock()
}

// let lets Interested return, if it was held.
func (d *held) let() {
	d.mu.Lock()
	if d.release != nil {
		close(d.release)
		d.release = nil
	}
	d.mu.Unlock()
}

func (d *held) PresenceSubscribed(owner, contact string) bool {
	return owner == "car@localhost" && contact == "op@localhost" && d.sees.Load()
}

func (d *held) Interested(owner, feature string) []string {
	d.mu.Lock()
	wait := d.release
	d.mu.Unlock()
	if wait != nil {
		select {
		case d.entered <- struct{}{}:
		default:
		}
		<-wait
	}
	return []string{"op@localhost/phone"}
}

func (d *held) Deliver(to string, stanza []byte, latest string) {
	d.mu.Lock()
	d.got = append(d.got, to+" "+string(stanza))
	d.mu.Unlock()
}

func (d *held) delivered() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.got...)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func publishAsync(ps *pubsub.Service, id string, acked *atomic.Int32) {
	ps.PublishAsync(pubsub.PublishRequest{Publisher: "car@localhost", Service: "car@localhost",
		Node: "urn:example:pos", ItemID: id, Payload: []byte("<x xmlns='urn:example:pos'/>")},
		func(res pubsub.PublishResult, err error) {
			if err == nil {
				acked.Add(1)
			}
		})
}

// The committer's writer only hands notifications over: while their
// delivery is stuck working out recipients, publishes still commit, those
// that find the queue full are acknowledged at once and counted as
// dropped, and the rest go out, in order, once delivery moves again.
func TestNotificationsDoNotHoldUpTheCommitter(t *testing.T) {
	const queue, total = 4, 12
	d := newHeld()
	ps, commit := openService(t, pubsub.Config{Host: "pubsub.localhost", Queue: queue}, d)
	t.Cleanup(d.let) // before the service closes, should the test fail
	var acked atomic.Int32
	d.hold()
	publishAsync(ps, "i0", &acked)
	<-d.entered // the delivery goroutine has i0 and waits in Interested
	for i := 1; i < total; i++ {
		publishAsync(ps, fmt.Sprintf("i%d", i), &acked)
	}
	// i1..i4 wait in the queue; the others were committed, dropped and
	// acknowledged.
	dropped := total - 1 - queue
	waitFor(t, "the dropped publishes acknowledged", func() bool { return int(acked.Load()) == dropped })
	if n := ps.Stats().NotificationsDropped; n != uint64(dropped) {
		t.Errorf("NotificationsDropped = %d, want %d", n, dropped)
	}
	written := make(chan error, 1)
	commit.Submit(nil, func(err error) { written <- err })
	select {
	case <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("the committer is held up by a notification's delivery")
	}

	d.let()
	waitFor(t, "every publish acknowledged", func() bool { return acked.Load() == total })
	got := d.delivered()
	if len(got) != total-dropped {
		t.Fatalf("%d notifications delivered, want %d: %q", len(got), total-dropped, got)
	}
	for i, s := range got {
		if want := fmt.Sprintf("id='i%d'", i); !strings.Contains(s, want) || !strings.Contains(s, "to='op@localhost/phone'") {
			t.Errorf("notification %d: %s, want the item %s to op@localhost/phone", i, s, want)
		}
	}
}

// Recipients are worked out at delivery: one who may no longer read the
// node by then does not get a notification committed before.
func TestNotificationRecipientsAreThoseOfDelivery(t *testing.T) {
	d := newHeld()
	ps, _ := openService(t, pubsub.Config{Host: "pubsub.localhost"}, d)
	t.Cleanup(d.let) // before the service closes, should the test fail
	var acked atomic.Int32
	d.hold()
	publishAsync(ps, "i0", &acked)
	<-d.entered
	publishAsync(ps, "i1", &acked) // committed while op may read the node
	d.sees.Store(false)
	d.let()
	waitFor(t, "both acknowledged", func() bool { return acked.Load() == 2 })
	if got := d.delivered(); len(got) != 0 {
		t.Errorf("delivered to a contact that lost access before delivery: %q", got)
	}
}
