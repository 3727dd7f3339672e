package geoloc

import (
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlnode"
)

// Ingester is the one way fixes and readings enter the geo engine,
// whatever carried them (a PEP or pubsub publish over XMPP, an MQTT message
// the bridge publishes through the hub). The engine declares it and the
// layers above call through it; *Store implements it, with BuntDB behind.
//
// Each method checks its input and returns the write that stores it, to
// commit in the same transaction as the rest of the publish (the pubsub
// item), and the function to call with the commit's outcome; or an error
// that refuses the input, when nothing is stored. Events (fences, rules)
// reach the sinks once the write is durable. The Handle methods have the
// shape of a pubsub payload handler: device is the publisher's bare JID,
// source says where it was published.
type Ingester interface {
	Stage(p Position) (store.Write, func(error), error)
	StageReadings(device string, rs []Reading, received time.Time) (store.Write, func(error), error)
	// HandlePayload takes an XEP-0080 <geoloc/> payload.
	HandlePayload(device, source string, payload *xmlnode.Node, now time.Time) (store.Write, func(error), error)
	// HandleSensorData takes an XEP-0323 <fields/> payload.
	HandleSensorData(device, source string, payload *xmlnode.Node, now time.Time) (store.Write, func(error), error)
}

var _ Ingester = (*Store)(nil)
