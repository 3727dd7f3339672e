package firmwaresim

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"
)

// Target is where XMPP devices publish their fixes: their own PEP node
// (the default, Service empty) or a node of a pubsub service, as the
// comparison with other servers does.
type Target struct {
	Service string // pubsub service JID, e.g. pubsub.localhost; empty: PEP
	Node    string // default: the XEP-0080 namespace
}

// xmppTransport is a device as an XMPP client.
type xmppTransport struct {
	hub     Hub
	acct    Account
	service jid.JID
	node    string
	sm      smState // the session, resumed across links (xmpp_sm.go)
	done    <-chan struct{}
	resumed bool // the last connect resumed the session
	// pending names the fixes sent and not answered by their item IDs:
	// sent again, they are the same publish, which the hub takes once.
	pending map[time.Time]string
	seq     atomic.Int64 // item IDs and XEP-0323 sequence numbers
}

func newXMPPTransport(hub Hub, acct Account, target Target) (*xmppTransport, error) {
	t := &xmppTransport{hub: hub, acct: acct, node: target.Node}
	if t.node == "" {
		t.node = NSGeoloc
	}
	if target.Service != "" {
		j, err := jid.Parse(target.Service)
		if err != nil {
			return nil, err
		}
		t.service = j
	}
	return t, nil
}

func (t *xmppTransport) connect(ctx context.Context) error {
	resumed, err := t.sm.connect(ctx, t.hub, t.acct, "sim")
	if err != nil {
		return err
	}
	t.resumed = resumed
	t.sm.mu.Lock()
	if t.sm.link == nil {
		t.sm.mu.Unlock()
		return &Failure{Kind: "stream", Err: errors.New("link lost at once")}
	}
	t.done = t.sm.link.done
	t.sm.mu.Unlock()
	return nil
}

func (t *xmppTransport) resumedSession() bool { return t.resumed }

func (t *xmppTransport) ended() <-chan struct{} { return t.done }

func (t *xmppTransport) checks() bool { return true }

func (t *xmppTransport) sendFix(ctx context.Context, f Fix, valid bool) error {
	payload := geolocPayload(f)
	if !valid {
		payload = invalidPayload(f)
	}
	id, again := t.pending[f.Time]
	if !again {
		id = t.itemID()
	}
	err := t.sm.publish(ctx, t.hub, t.service, t.node, id, payload)
	var failure *Failure
	switch {
	case !errors.As(err, &failure):
		delete(t.pending, f.Time)
	case !again:
		if t.pending == nil || len(t.pending) >= 2*maxQueue {
			t.pending = map[time.Time]string{} // the device's queue dropped the rest
		}
		t.pending[f.Time] = id
	}
	return err
}

func (t *xmppTransport) sendReadings(ctx context.Context, rs []SensorReading, at time.Time) error {
	return t.sm.publish(ctx, t.hub, jid.JID{}, NSSensorData, t.itemID(), sensorPayload(rs, at, int(t.seq.Load())))
}

// itemID names each item "<device>-<unix nanoseconds>", the time it is
// sent: PEP keeps only the last one anyway, but a service node keeps
// several, and a Subscriber reads the publish time from the ID
// (ItemSentAt). It also advances the XEP-0323 sequence number.
func (t *xmppTransport) itemID() string {
	t.seq.Add(1)
	return itemIDAt(t.acct.Name(), time.Now())
}

func (t *xmppTransport) drop() { t.sm.drop() }

func (t *xmppTransport) close() { t.sm.close() }
