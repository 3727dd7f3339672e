package pubsub_test

import (
	"context"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/pubsub"
	"github.com/tidwall/buntdb"
)

// A publish of a payload the application handles, sent again with the same
// item ID and payload, is answered without reaching the handler again;
// another payload, or an item nobody handles, is a publish like any.
func TestRepeatedPublishReachesTheHandlerOnce(t *testing.T) {
	ps, _ := newService(t)
	calls := 0
	ps.Handle("urn:example:fix", func(string, string, *xmlnode.Node, time.Time) (store.Write, func(error), error) {
		calls++
		return func(*buntdb.Tx) error { return nil }, func(error) {}, nil
	})
	ctx := context.Background()
	const car = "car@localhost"
	pub := func(node, id, payload string) {
		t.Helper()
		if _, err := ps.Publish(ctx, pubsub.PublishRequest{Publisher: car, Service: car, Node: node, ItemID: id, Payload: []byte(payload)}); err != nil {
			t.Fatalf("publish %s %s: %v", id, payload, err)
		}
	}
	fix := func(n int) string { return "<x xmlns='urn:example:fix'>" + string(rune('0'+n)) + "</x>" }
	pub("fixes", "f1", fix(1))
	pub("fixes", "f1", fix(1)) // the same again
	pub("fixes", "f2", fix(2))
	pub("fixes", "f1", fix(1)) // again, once no longer the newest
	pub("fixes", "f1", fix(3)) // the same ID with another fix
	if calls != 3 {
		t.Errorf("the handler took %d fixes, want 3", calls)
	}
	pub("other", "o1", "<y xmlns='urn:example:other'/>")
	pub("other", "o1", "<y xmlns='urn:example:other'/>")
	if n := ps.Stats().RepeatedPublishes; n != 2 {
		t.Errorf("%d repeats, want 2 (items nobody handles are published again)", n)
	}
}
