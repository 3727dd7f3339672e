package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/geohub/geohub/pubsub"
)

// One account's PEP nodes hold at most 1 MiB of payloads together: a
// publish past it is refused with resource-constraint and leaves no node
// behind, while replacing an item within the budget still works.
func TestPEPBytesPerAccountAreBounded(t *testing.T) {
	ps, _ := newService(t)
	ctx := context.Background()
	const car = "car@localhost"
	big := func(fill string) []byte {
		return []byte("<x xmlns='urn:example:a'>" + strings.Repeat(fill, 60<<10) + "</x>")
	}
	for i := range 17 { // 17 × 60 KiB just fits
		if _, err := ps.Publish(ctx, pubsub.PublishRequest{Publisher: car, Service: car, Node: fmt.Sprint("n", i),
			ItemID: "current", Payload: big("a")}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	_, err := ps.Publish(ctx, pubsub.PublishRequest{Publisher: car, Service: car, Node: "one-too-many",
		ItemID: "current", Payload: big("b")})
	var pe *pubsub.Error
	if !errors.As(err, &pe) || pe.Cond != "resource-constraint" || !strings.Contains(pe.Text, "1 MiB") {
		t.Fatalf("publish past the budget: %v, want resource-constraint", err)
	}
	// The same item again replaces itself: the total does not grow.
	if _, err := ps.Publish(ctx, pubsub.PublishRequest{Publisher: car, Service: car, Node: "n3",
		ItemID: "current", Payload: big("c")}); err != nil {
		t.Fatalf("replacing an item within the budget: %v", err)
	}
	// Another account has a budget of its own.
	if _, err := ps.Publish(ctx, pubsub.PublishRequest{Publisher: "van@localhost", Service: "van@localhost",
		Node: "n", Payload: big("d")}); err != nil {
		t.Fatalf("another account: %v", err)
	}
	var items string
	ps.DiscoItems(pubsub.Request{From: car + "/x", To: car}, "", func(b []byte) { items = string(b) })
	if strings.Contains(items, "one-too-many") || !strings.Contains(items, "n16") {
		t.Errorf("the refused publish left its node: %s", items)
	}
}
