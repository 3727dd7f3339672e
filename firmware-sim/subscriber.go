package firmwaresim

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/geohub/geohub/internal/xmlesc"
)

// Namespaces a subscriber speaks.
const (
	nsPubSub      = "http://jabber.org/protocol/pubsub"
	nsPubSubEvent = "http://jabber.org/protocol/pubsub#event"
	nsDelay       = "urn:xmpp:delay"
)

// Client is a logged-in XMPP session that does nothing by itself except
// answer pings: an idle device in a load test, or the session of a
// Subscriber.
type Client struct {
	ss *session
}

// Dial logs acct in at hub (STARTTLS or direct TLS, SCRAM, resource
// binding) as the simulated devices do. An error is a *Failure.
func Dial(ctx context.Context, hub Hub, acct Account, resource string) (*Client, error) {
	ss, err := dialXMPP(ctx, hub, acct, resource)
	if err != nil {
		return nil, err
	}
	return &Client{ss: ss}, nil
}

// Available sends initial presence, as a device does once it is online.
func (c *Client) Available(ctx context.Context) error { return c.ss.send(ctx, "<presence/>") }

// Close ends the stream politely and closes the connection.
func (c *Client) Close() { c.ss.close() }

// SubscriberOptions say what a Subscriber subscribes to.
type SubscriberOptions struct {
	Hub     Hub
	Account Account
	// Target is the node: Service must be set (a PEP node is followed
	// through presence and capabilities, not subscribed to).
	Target Target
	// Stats is told of every notification (Stats.Notified).
	Stats *Stats
	// Create creates the node before subscribing, with Config as its
	// configuration (XEP-0060 §8.1.3: pubsub#... fields without the
	// prefix, such as "publish_model": "open"). The account must be
	// allowed to create nodes on the service.
	Create bool
	Config map[string]string
}

// Subscriber is one XMPP client subscribed, with its full JID, to a node
// of a pubsub service. For every item notification it records in
// Stats.Notified how long after its publish it arrived, reading the
// publish time from the item ID, which XMPP devices write as
// "<device>-<unix nanoseconds>" (ItemSentAt); publisher and subscriber
// must share one clock, so they run in one process. Items published
// before the subscription (the last item some services send on
// subscribing) and items delivered with a delay are not measured.
type Subscriber struct {
	c     *Client
	stats *Stats
	since int64 // unix nanoseconds when subscribing began

	received, ignored atomic.Uint64

	mu     sync.Mutex
	latest map[string]int64 // device -> send time of its newest item notified (unix nanoseconds)
}

// Subscribe logs in, sends initial presence, creates the node if asked,
// and subscribes to it. Notifications are measured from then on, until
// Close.
func Subscribe(ctx context.Context, opt SubscriberOptions) (*Subscriber, error) {
	if opt.Target.Service == "" {
		return nil, errors.New("firmwaresim: a subscriber needs a pubsub service")
	}
	if opt.Stats == nil {
		return nil, errors.New("firmwaresim: SubscriberOptions.Stats is required")
	}
	node := opt.Target.Node
	if node == "" {
		node = NSGeoloc
	}
	s := &Subscriber{stats: opt.Stats, latest: map[string]int64{}}
	event := xml.Name{Space: nsPubSubEvent, Local: "event"}
	ss, err := dialXMPP(ctx, opt.Hub, opt.Account, "sub",
		mux.Message(stanza.HeadlineMessage, event, s), mux.Message(stanza.NormalMessage, event, s))
	if err != nil {
		return nil, err
	}
	s.c = &Client{ss: ss}
	ctx, cancel := context.WithTimeout(ctx, opt.Hub.timeout())
	defer cancel()
	fail := func(what string, err error) (*Subscriber, error) {
		s.c.Close()
		return nil, fmt.Errorf("%s node %s on %s: %w", what, node, opt.Target.Service, err)
	}
	if err := s.c.Available(ctx); err != nil {
		return fail("presence before subscribing to", err)
	}
	to := xmlesc.Attr(nil, "to", opt.Target.Service)
	if opt.Create {
		if err := ss.iq(ctx, "<iq type='set'"+string(to)+"><pubsub xmlns='"+nsPubSub+"'><create"+
			string(xmlesc.Attr(nil, "node", node))+"/>"+configureForm(opt.Config)+"</pubsub></iq>"); err != nil {
			return fail("create", err)
		}
	}
	s.since = time.Now().UnixNano()
	if err := ss.iq(ctx, "<iq type='set'"+string(to)+"><pubsub xmlns='"+nsPubSub+"'><subscribe"+
		string(xmlesc.Attr(nil, "node", node))+string(xmlesc.Attr(nil, "jid", ss.s.LocalAddr().String()))+
		"/></pubsub></iq>"); err != nil {
		return fail("subscribe to", err)
	}
	return s, nil
}

// configureForm is <configure/> with a node_config form of the fields, or
// nothing when there are none.
func configureForm(fields map[string]string) string {
	if len(fields) == 0 {
		return ""
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	b := []byte("<configure><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" +
		nsPubSub + "#node_config</value></field>")
	for _, name := range names {
		b = append(b, "<field"...)
		b = xmlesc.Attr(b, "var", "pubsub#"+name)
		b = append(b, "><value>"...)
		b = xmlesc.Text(b, fields[name])
		b = append(b, "</value></field>"...)
	}
	return string(append(b, "</x></configure>"...))
}

// iq sends a raw IQ of type set or get and waits for its answer; an error
// answer is returned as a stanza.Error.
func (ss *session) iq(ctx context.Context, raw string) error {
	return ss.s.UnmarshalIQ(ctx, xml.NewDecoder(strings.NewReader(raw)), nil)
}

// HandleMessage reads a message with a pubsub event: each item in it is a
// notification. The session's read loop calls it, one message at a time,
// with a reader of the whole message.
func (s *Subscriber) HandleMessage(_ stanza.Message, t xmlstream.TokenReadEncoder) error {
	now := time.Now().UnixNano()
	var ids []string
	delayed := false
	for {
		tok, err := t.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch {
		case se.Name.Local == "item" && se.Name.Space == nsPubSubEvent:
			for _, a := range se.Attr {
				if a.Name.Local == "id" {
					ids = append(ids, a.Value)
				}
			}
		case se.Name.Local == "delay" && se.Name.Space == nsDelay:
			delayed = true
		}
	}
	for _, id := range ids {
		sent, ok := ItemSentAt(id)
		if ok {
			s.noteLatest(id[:strings.LastIndexByte(id, '-')], sent.UnixNano())
		}
		if !ok || delayed || sent.UnixNano() < s.since {
			s.ignored.Add(1)
			continue
		}
		// Told to the stats first, so that Received never counts one
		// they lack.
		s.stats.Notified(time.Duration(now - sent.UnixNano()))
		s.received.Add(1)
	}
	return nil
}

func (s *Subscriber) noteLatest(device string, sent int64) {
	s.mu.Lock()
	if sent > s.latest[device] {
		s.latest[device] = sent
	}
	s.mu.Unlock()
}

// Latest is when device sent the newest of its items notified so far.
func (s *Subscriber) Latest(device string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, ok := s.latest[device]
	return time.Unix(0, ns), ok
}

// Received is the number of notifications measured so far.
func (s *Subscriber) Received() uint64 { return s.received.Load() }

// Ignored is the number of items notified but not measured: published
// before the subscription, delivered late with a delay, or with an ID
// that carries no time.
func (s *Subscriber) Ignored() uint64 { return s.ignored.Load() }

// Close ends the subscriber's session (the subscription stays).
func (s *Subscriber) Close() { s.c.Close() }

// Connected says whether the subscriber's stream is still being served:
// false once the hub ended it (or Close did).
func (s *Subscriber) Connected() bool { return len(s.c.ss.served) == 0 }

// minItemTime is 2001-09-09 in unix nanoseconds, the first with 19
// digits: a smaller number after the last '-' is part of a name.
const minItemTime = 1_000_000_000_000_000_000

// ItemSentAt reads the send time from an item ID as XMPP devices write
// it, "<device>-<unix nanoseconds>".
func ItemSentAt(id string) (time.Time, bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil || i == 0 || ns < minItemTime {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// itemIDAt is the ID of an item device sends at t: see ItemSentAt.
func itemIDAt(device string, t time.Time) string {
	return device + "-" + strconv.FormatInt(t.UnixNano(), 10)
}
