package tracking

import (
	"fmt"
	"sync"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/pubsub"
	"golang.org/x/time/rate"
)

// The default per-device rate of positions and readings: trackers send a
// few a second at most, and a load test at the defaults (at least 20/s per
// device sustained) still measures the hub, not this limit.
const (
	DefaultFixRate  = 50  // per second, sustained
	DefaultFixBurst = 100 // above the rate, after a quiet spell
)

// fixRate limits, per publishing account, the payloads handed to the geo
// engine: each is stored, kept in memory and may raise alerts, so one
// device flat out would otherwise fill the memory and the disk. Every
// transport passes here (XMPP PEP and service publishes, the MQTT bridge).
type fixRate struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	devices map[string]*rate.Limiter // publisher's bare JID -> its bucket
}

func newFixRate(perSecond float64, burst int) *fixRate {
	r := &fixRate{}
	r.set(perSecond, burst)
	return r
}

// set changes the rate, starting every bucket afresh.
func (r *fixRate) set(perSecond float64, burst int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.limit, r.burst, r.devices = rate.Inf, 0, nil
	if perSecond > 0 {
		r.limit, r.burst, r.devices = rate.Limit(perSecond), max(burst, 1), map[string]*rate.Limiter{}
	}
}

// allow takes one payload of publisher's from its bucket; when it is empty
// it returns the refusal.
func (r *fixRate) allow(publisher string, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limit == rate.Inf {
		return nil
	}
	l := r.devices[publisher]
	if l == nil {
		l = rate.NewLimiter(r.limit, r.burst)
		r.devices[publisher] = l
	}
	if l.AllowN(now, 1) {
		return nil
	}
	return &pubsub.Error{Type: "modify", Cond: "policy-violation",
		Text: fmt.Sprintf("too many positions and readings from this device: at most %g a second (burst %d)", float64(r.limit), r.burst)}
}

// forget drops a removed account's bucket.
func (r *fixRate) forget(publisher string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.devices, publisher)
}

// limited wraps a payload handler with the per-device rate: a payload over
// it is refused with policy-violation (type modify: sending it again at
// once fails again, so the MQTT bridge counts it refused rather than
// retrying), counted, and nothing is stored.
func (app *App) limited(h pubsub.PayloadHandler) pubsub.PayloadHandler {
	return func(publisher, source string, payload *xmlnode.Node, now time.Time) (store.Write, func(error), error) {
		if err := app.fixRate.allow(publisher, now); err != nil {
			app.fixesRefused.Add(1)
			return nil, nil, err
		}
		return h(publisher, source, payload, now)
	}
}
