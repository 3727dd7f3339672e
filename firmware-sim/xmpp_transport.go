package firmwaresim

import (
	"context"
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
	ss      *session
	done    chan struct{}
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
	ss, err := dialXMPP(ctx, t.hub, t.acct, "sim")
	if err != nil {
		return err
	}
	// Available, so that operators see the device online.
	if err := ss.send(ctx, "<presence/>"); err != nil {
		ss.drop()
		return &Failure{Kind: "stream", Err: err}
	}
	t.ss, t.done = ss, make(chan struct{})
	go func(ss *session, done chan struct{}) {
		<-ss.served
		close(done)
	}(ss, t.done)
	return nil
}

func (t *xmppTransport) ended() <-chan struct{} { return t.done }

func (t *xmppTransport) checks() bool { return true }

func (t *xmppTransport) sendFix(ctx context.Context, f Fix, valid bool) error {
	payload := geolocPayload(f)
	if !valid {
		payload = invalidPayload(f)
	}
	return t.ss.publish(ctx, t.hub, t.service, t.node, t.itemID(), payload)
}

func (t *xmppTransport) sendReadings(ctx context.Context, rs []SensorReading, at time.Time) error {
	return t.ss.publish(ctx, t.hub, jid.JID{}, NSSensorData, t.itemID(), sensorPayload(rs, at, int(t.seq.Load())))
}

// itemID names each item "<device>-<unix nanoseconds>", the time it is
// sent: PEP keeps only the last one anyway, but a service node keeps
// several, and a Subscriber reads the publish time from the ID
// (ItemSentAt). It also advances the XEP-0323 sequence number.
func (t *xmppTransport) itemID() string {
	t.seq.Add(1)
	return itemIDAt(t.acct.Name(), time.Now())
}

func (t *xmppTransport) drop() {
	if t.ss != nil {
		t.ss.drop()
	}
}

func (t *xmppTransport) close() {
	if t.ss != nil {
		t.ss.close()
	}
}
