package pubsub

import "github.com/geohub/geohub/internal/jsonw"

// appendJSON writes the item as json.Marshal does, without reflection:
// every fix published to a node stores its item.
func (it *Item) appendJSON(b []byte) ([]byte, error) {
	w := jsonw.Object{B: append(b, '{')}
	w.Str("id", it.ID)
	w.Str("publisher", it.Publisher)
	w.Time("time", it.Time)
	w.Str("payload", it.Payload)
	return append(w.B, '}'), w.Err
}
