package mqttbridge

import (
	"time"

	"github.com/geohub/geohub/devices"
)

// Dial is the bridge's dialer, for the benchmark's simulated trackers:
// they stand for devices elsewhere, so they should cost this machine as
// little as they can.
var Dial = dial

// Hooks replace the bridge's calls into the hub and the account store,
// for tests that make them fail as a broken database would. Nil fields
// keep the real ones.
type Hooks struct {
	Publish   func(real func(account, node, itemID string, payload []byte, done func(error)), account, node, itemID string, payload []byte, done func(error))
	Provision func(real func(...devices.NewAccount) ([]devices.Created, error), reqs ...devices.NewAccount) ([]devices.Created, error)
}

// NewHooked is New with hooks.
func NewHooked(cfg Config, d Deps, h Hooks) (*Bridge, error) {
	b, err := New(cfg, d)
	if err != nil {
		return nil, err
	}
	if h.Publish != nil {
		real := b.publishPEP
		b.publishPEP = func(account, node, itemID string, payload []byte, done func(error)) {
			h.Publish(real, account, node, itemID, payload, done)
		}
	}
	if h.Provision != nil {
		real := b.provision
		b.provision = func(reqs ...devices.NewAccount) ([]devices.Created, error) { return h.Provision(real, reqs...) }
	}
	return b, nil
}

// SetRetries sets how often and how soon a failed store is retried, until
// the test ends.
func SetRetries(t interface{ Cleanup(func()) }, n int, first time.Duration) {
	old, oldFirst := retries, retryFirst
	retries, retryFirst = n, first
	t.Cleanup(func() { retries, retryFirst = old, oldFirst })
}

// ClientIDs are the MQTT client IDs of the bridge's connections.
func (b *Bridge) ClientIDs() []string {
	var ids []string
	for _, c := range b.conns {
		ids = append(ids, c.clientID)
	}
	return ids
}
