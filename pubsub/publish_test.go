package pubsub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/pubsub"
)

// Publish is the typed call beside the XMPP adapter: it returns once the
// item is durable, and refusals are errors to compare, not reply stanzas.
func TestPublishTyped(t *testing.T) {
	ps, _ := newService(t)
	refuse := func(ns string) func(string, string, *xmlnode.Node, time.Time) (store.Write, func(error), error) {
		return func(string, string, *xmlnode.Node, time.Time) (store.Write, func(error), error) {
			return nil, nil, errors.New("not for " + ns)
		}
	}
	ps.Handle("urn:example:refused", refuse("urn:example:refused"))
	ctx := context.Background()
	const car = "car@localhost"

	res, err := ps.Publish(ctx, pubsub.PublishRequest{Publisher: car, Service: car, Node: "urn:example:a",
		ItemID: "i1", Payload: []byte("<x xmlns='urn:example:a'>1</x>")})
	if err != nil || res.ItemID != "i1" {
		t.Fatalf("publish: %+v %v", res, err)
	}
	res, err = ps.Publish(ctx, pubsub.PublishRequest{Publisher: car, Service: car, Node: "urn:example:a",
		Payload: []byte("<x xmlns='urn:example:a'>2</x>")})
	if err != nil || res.ItemID == "" {
		t.Fatalf("publish without an item ID: %+v %v", res, err)
	}

	for _, c := range []struct {
		name string
		req  pubsub.PublishRequest
		want error
	}{
		{"to another account's PEP", pubsub.PublishRequest{Publisher: "op@localhost", Service: car, Node: "n",
			Payload: []byte("<x xmlns='urn:example:a'/>")}, pubsub.ErrForbidden},
		{"to a missing service node", pubsub.PublishRequest{Publisher: car, Service: "pubsub.localhost", Node: "none",
			Payload: []byte("<x xmlns='urn:example:a'/>")}, pubsub.ErrItemNotFound},
		{"not well-formed", pubsub.PublishRequest{Publisher: car, Service: car, Node: "n",
			Payload: []byte("<x xmlns='urn:example:a'>")}, pubsub.ErrInvalidPayload},
		{"without a namespace", pubsub.PublishRequest{Publisher: car, Service: car, Node: "n",
			Payload: []byte("<x/>")}, pubsub.ErrInvalidPayload},
		{"refused by its handler", pubsub.PublishRequest{Publisher: car, Service: car, Node: "n",
			Payload: []byte("<x xmlns='urn:example:refused'/>")}, pubsub.ErrInvalidPayload},
	} {
		_, err := ps.Publish(ctx, c.req)
		var pe *pubsub.Error
		if !errors.Is(err, c.want) || !errors.As(err, &pe) || errors.Is(err, pubsub.ErrInternal) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
