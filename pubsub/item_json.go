package pubsub

import "github.com/geohub/geohub/internal/jsonw"

// jsonMembers writes the item as json.Marshal does (jsonw.Record), without
// reflection: every fix published to a node stores its item.
func (it *Item) jsonMembers(w *jsonw.Object) {
	w.Str("id", it.ID)
	w.Str("publisher", it.Publisher)
	w.Time("time", it.Time)
	w.Str("payload", it.Payload)
}
