package pubsub

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/jsonw"
)

func FuzzItemJSONAsJSONMarshal(f *testing.F) {
	f.Add("1", "car@localhost", int64(1700000000123456789), "<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>1</lat></geoloc>")
	f.Add("", "", int64(0), "\x00\"\\\u2028\xff")
	f.Fuzz(func(t *testing.T, id, publisher string, ns int64, payload string) {
		it := Item{ID: id, Publisher: publisher, Time: time.Unix(0, ns).UTC(), Payload: payload}
		want, werr := json.Marshal(it)
		got, err := jsonw.Record(it.jsonMembers)
		if (err != nil) != (werr != nil) || err == nil && got != string(want) {
			t.Fatalf("%+v:\n got %s (%v)\nwant %s (%v)", it, got, err, want, werr)
		}
	})
}

// Item keys are written byte for byte as they were with fmt, so that keys
// already stored keep their order.
func TestItemKeyIsPadded(t *testing.T) {
	n := &Node{Service: "pubsub.localhost", Name: "fleet/a b"}
	for _, seq := range []uint64{0, 12345, 1<<64 - 1} {
		if got, want := itemKey(n, &Item{seq: seq}), fmt.Sprintf("%s%s:%020d", itemPrefix, nodeSuffix(n.Service, n.Name), seq); got != want {
			t.Errorf("itemKey(%d) = %q, want %q", seq, got, want)
		}
	}
}
