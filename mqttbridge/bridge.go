package mqttbridge

import (
	"crypto/tls"
	"errors"
	"hash/maphash"
	"log/slog"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
)

// Deps are the parts of GeoHub the bridge works with.
type Deps struct {
	Hub      *hub.Server      // fixes and readings are published through it
	Accounts devices.Accounts // devices are looked up and provisioned here
	Geo      *geoloc.Store    // positions and alerts to publish come from here
	Logger   *slog.Logger
}

// Bridge is the MQTT bridge: one connection per broker entry, the workers
// that turn messages into publishes, and what goes out.
type Bridge struct {
	p        *plan
	hub      *hub.Server
	accounts devices.Accounts
	geo      *geoloc.Store
	log      *slog.Logger
	conns    []*conn
	queues   []chan job // one per worker
	seed     maphash.Seed
	stop     chan struct{}
	stopped  atomic.Bool
	wg       sync.WaitGroup
	limiter  logLimiter
	provMu   sync.Mutex // one provisioning at a time: PBKDF2 is costly, and races are pointless
	provRate rateLimit  // provisionings a second
	live     liveness   // MQTT devices held online: online.go
	heardQ   heardQueue // devices stored from, to bring online: online.go

	// The hub's publish and the store's account creation; tests replace
	// them to fail as a database would.
	publishPEP func(account, node, itemID string, payload []byte, done func(error))
	provision  func(...devices.NewAccount) ([]devices.Created, error)
}

// conn is one broker connection.
type conn struct {
	b        *Bridge
	name     string // its URLs, without passwords
	clientID string
	client   mqtt.Client
	filters  map[string]byte // subscriptions
	st       counters
	acks     ackQueue
	out      outbox
	store    *resumeStore
	gen      atomic.Uint64 // network connections dialed

	mu        sync.Mutex
	nc        net.Conn // the latest network connection, number gen
	connected bool     // and subscribed
	lastErr   string
	lastErrAt time.Time
	connects  uint64
}

// job is a message on its way through a worker.
type job struct {
	c   *conn
	msg mqtt.Message
	at  time.Time
	gen uint64 // the network connection it came on
}

// queueLen is the capacity of each worker's queue: enough to keep a worker
// busy while paho reads on, small enough that backpressure comes soon.
const queueLen = 256

// New checks the configuration and builds the bridge; Start connects it.
func New(cfg Config, d Deps) (*Bridge, error) {
	if d.Hub == nil || d.Accounts == nil {
		return nil, errors.New("mqttbridge: a hub and an account store are required")
	}
	if cfg.Origin == "" {
		cfg.Origin = d.Accounts.Domain()
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "geohub-" + cfg.Origin
	}
	p, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if len(p.servers) == 0 {
		return nil, errors.New("mqttbridge: no broker")
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	b := &Bridge{p: p, hub: d.Hub, accounts: d.Accounts, geo: d.Geo, log: log.With("component", "mqtt"),
		seed: maphash.MakeSeed(), stop: make(chan struct{})}
	b.publishPEP, b.provision = d.Hub.PublishPEP, d.Accounts.Add
	b.provRate.rate = p.ProvisionRate
	b.provRate.burst = max(1, math.Ceil(2*p.ProvisionRate))
	b.provRate.tokens = b.provRate.burst
	b.heardQ.wake = make(chan struct{}, 1)
	b.live.held, b.live.leaving, b.live.gone = map[string]time.Time{}, map[string]string{}, map[string]time.Time{}
	b.limiter.every = 10 * time.Second
	b.limiter.burst = 20
	for range p.Workers {
		b.queues = append(b.queues, make(chan job, queueLen))
	}
	filters := map[string]byte{}
	if p.OwnTracks != "" {
		filters[p.OwnTracks+"/+/+"] = p.QoS
		filters[p.OwnTracks+"/+/+/event"] = p.QoS
	}
	if p.json != nil {
		filters[p.json.filter] = p.QoS
	}
	if p.telemetry != nil {
		filters[p.telemetry.filter] = p.QoS
	}
	for i, servers := range p.servers {
		var names []string
		for _, u := range servers {
			names = append(names, u.Redacted())
		}
		c := &conn{b: b, name: strings.Join(names, ","), filters: filters}
		c.acks.wake = make(chan struct{}, 1)
		c.out.init()
		c.store = newResumeStore()
		c.clientID = p.ClientID
		if i > 0 {
			// One client ID per connection: brokers of one cluster behind
			// two entries would otherwise take each for the other's
			// reconnect and cut the older one off, over and over.
			c.clientID += "-" + strconv.Itoa(i+1)
		}
		c.client = mqtt.NewClient(b.options(c, servers))
		b.conns = append(b.conns, c)
	}
	return b, nil
}

func (b *Bridge) options(c *conn, servers []*url.URL) *mqtt.ClientOptions {
	p := b.p
	o := mqtt.NewClientOptions()
	for _, u := range servers {
		o.AddBroker(u.String())
	}
	o.SetClientID(c.clientID)
	if p.Username != "" {
		o.SetUsername(p.Username)
		o.SetPassword(p.Password)
	}
	if p.tls != nil {
		o.SetTLSConfig(p.tls.Clone())
	}
	o.SetCustomOpenConnectionFn(func(u *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
		nc, err := dial(u, o)
		if err == nil {
			c.mu.Lock()
			c.nc = nc
			c.gen.Add(1)
			c.mu.Unlock()
		}
		return nc, err
	})
	o.SetCleanSession(p.CleanSession)
	o.SetStore(c.store)
	o.SetConnectionAttemptHandler(func(_ *url.URL, t *tls.Config) *tls.Config {
		// Before each dial: publishing stops until this connection is up
		// and, with a persistent session, resumed (see resumeStore).
		// The attempt first: an onConnect of the previous attempt that
		// has not set connected yet no longer will.
		c.store.attempt()
		c.mu.Lock()
		c.connected = false
		c.mu.Unlock()
		return t
	})
	o.SetAutoReconnect(true)
	o.SetConnectRetry(true)
	o.SetConnectRetryInterval(time.Second)
	o.SetMaxReconnectInterval(10 * time.Second)
	o.SetConnectTimeout(10 * time.Second)
	o.SetKeepAlive(30 * time.Second)
	o.SetPingTimeout(10 * time.Second)
	o.SetWriteTimeout(10 * time.Second) // a publish waits at most this long for paho to take it
	// In order, so that a device's fixes reach a worker in the order they
	// came; acknowledged by the bridge once stored, not by paho on return.
	o.SetOrderMatters(true)
	o.SetAutoAckDisabled(true)
	// Subscriptions are made again at every connect (onConnect): a broker
	// that restarted without persistence has forgotten them. Messages that
	// arrive before (a persistent session's queue) reach the default
	// handler, which handles every topic.
	o.SetResumeSubs(false)
	o.SetDefaultPublishHandler(c.onMessage)
	o.SetOnConnectHandler(c.onConnect)
	o.SetConnectionLostHandler(c.onLost)
	o.SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
		b.log.Debug("reconnecting", "broker", c.name)
	})
	// A connect that fails (broker down, refused credentials or
	// certificate) reaches no other handler: paho only retries.
	o.SetConnectionNotificationHandler(func(_ mqtt.Client, n mqtt.ConnectionNotification) {
		if f, ok := n.(mqtt.ConnectionNotificationFailed); ok && f.Reason != nil {
			c.connectFailed(f.Reason)
		}
	})
	if p.OutPrefix != "" {
		o.SetWill(p.OutPrefix+"/status", string(hubStatus(p.Origin, false)), p.QoS, true)
	}
	return o
}

// Start starts the workers and connects to every broker in the
// background; it does not wait for a broker, which may come up later:
// Stats tells when each connection is up. Positions, presence and alerts
// are watched from here on.
func (b *Bridge) Start() {
	for _, q := range b.queues {
		b.wg.Go(func() { b.work(q) })
	}
	for _, c := range b.conns {
		b.wg.Go(c.ackLoop)
		b.wg.Go(c.publishLoop)
		c.client.Connect() // retries in the background (ConnectRetry)
		b.log.Info("connecting", "broker", c.name, "client_id", c.clientID, "clean_session", b.p.CleanSession)
	}
	b.wg.Go(b.logStats)
	b.wg.Go(b.heardLoop)
	if b.p.OfflineAfter > 0 {
		b.wg.Go(b.expire)
	}
	b.accounts.Watch(b.accountChanged)
	b.watch()
}

// statsEvery is how often the bridge logs its counters, when they moved.
const statsEvery = time.Minute

func (b *Bridge) logStats() {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	var last Counts
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		st := b.Stats()
		if st.Total == last {
			continue
		}
		last = st.Total
		c := st.Total
		b.log.Info("bridge", "state", b.BridgeState(), "received", c.Received, "fixes", c.Fixes, "readings", c.Readings,
			"malformed", c.Malformed, "refused", c.Refused, "failed", c.Failed, "looped", c.Looped, "published", c.Published)
	}
}

// Close says the hub is going offline, disconnects and stops the workers.
// Messages not yet stored are not acknowledged: the broker sends them again
// to the next session. The devices it held online go offline. Call it
// before the hub and its committer close.
func (b *Bridge) Close() {
	if !b.stopped.CompareAndSwap(false, true) {
		return
	}
	close(b.stop)
	for _, c := range b.conns {
		if b.p.OutPrefix != "" && c.client.IsConnectionOpen() {
			// A clean disconnect does not trigger the will.
			t := c.client.Publish(b.p.OutPrefix+"/status", b.p.QoS, true, hubStatus(b.p.Origin, false))
			t.WaitTimeout(2 * time.Second)
		}
	}
	b.wg.Wait() // the ack loops flush what is stored
	b.releaseAll(viaStopped)
	for _, c := range b.conns {
		c.client.Disconnect(250)
	}
	b.log.Info("stopped")
}

// onConnect subscribes (again), says the hub is online and publishes the
// latest position of every device, which a broker that lost its retained
// messages no longer has. paho runs it on a goroutine of its own.
func (c *conn) onConnect(client mqtt.Client) {
	b := c.b
	attempt, ok := c.store.waitResumed(b.stop)
	if !ok {
		return // stopping, or this connection is gone already
	}
	if len(c.filters) > 0 && !c.subscribe(client, attempt) {
		return
	}
	if b.p.OutPrefix != "" {
		client.Publish(b.p.OutPrefix+"/status", b.p.QoS, true, hubStatus(b.p.Origin, true))
		if b.p.out[OutPositions] && b.geo != nil {
			c.out.positionsSnapshot(b.geo.All())
		}
	}
	c.mu.Lock()
	if !c.store.current(attempt) {
		c.mu.Unlock()
		return // a later attempt began: its own onConnect says when it is up
	}
	c.connected = true
	c.connects++
	n := c.connects
	c.mu.Unlock()
	c.out.signal() // what waited for the connection goes out now
	b.log.Info("connected", "broker", c.name, "connects", n, "topics", len(c.filters))
}

// Subscription retries: after a failed or refused SUBSCRIBE the bridge
// waits subscribeFirst, then twice as long each time up to subscribeMax.
var (
	subscribeFirst = time.Second
	subscribeMax   = time.Minute
)

// subscribe makes the bridge's subscriptions, trying again (a broker's
// ACLs may be fixed meanwhile) until they are all granted, the connection
// of attempt is gone or the bridge stops; it reports whether they were
// granted. Meanwhile the connection counts as down.
func (c *conn) subscribe(client mqtt.Client, attempt uint64) bool {
	b := c.b
	wait := subscribeFirst
	for {
		err := c.subscribeOnce(client)
		if err == nil {
			return true
		}
		c.failed(err)
		b.log.Error("subscribing; trying again", "broker", c.name, "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-b.stop:
			return false
		}
		if !c.store.current(attempt) || !client.IsConnectionOpen() {
			return false // the next connection subscribes
		}
		wait = min(2*wait, subscribeMax)
	}
}

func (c *conn) subscribeOnce(client mqtt.Client) error {
	t := client.SubscribeMultiple(c.filters, nil)
	if !t.WaitTimeout(30 * time.Second) {
		return errors.New("no answer to SUBSCRIBE within 30s")
	}
	if err := t.Error(); err != nil {
		return err
	}
	if st, ok := t.(*mqtt.SubscribeToken); ok {
		var refused []string
		for topic, qos := range st.Result() {
			if qos == 0x80 {
				refused = append(refused, topic)
			}
		}
		if len(refused) > 0 {
			slices.Sort(refused)
			return errors.New("the broker refused the subscription to " + strings.Join(refused, ", "))
		}
	}
	return nil
}

// forceReconnect drops the network connection number gen, if it is
// still the current one, so that paho reconnects and the broker sends
// again what the bridge has not acknowledged: a message it failed to store
// and gave up retrying. A broker sends an unacknowledged message again
// only to a new connection, and until then the message holds one slot of
// its in-flight window.
func (c *conn) forceReconnect(gen uint64) {
	c.mu.Lock()
	nc := c.nc
	current := c.gen.Load() == gen
	c.mu.Unlock()
	if nc == nil || !current {
		return // reconnected since: the broker has sent it again
	}
	c.b.log.Warn("dropping the connection so that the broker sends unstored messages again", "broker", c.name)
	// Not Close: paho's reader takes "use of closed network connection"
	// for a disconnect of its own and never reconnects. A read deadline in
	// the past makes its read fail like a dead network does.
	nc.SetReadDeadline(time.Now())
}

func (c *conn) onLost(_ mqtt.Client, err error) {
	c.failed(err)
	c.b.log.Warn("connection lost; reconnecting", "broker", c.name, "err", err)
}

// failed records why the connection is down, and reports whether that is
// news: another reason than the last one.
func (c *conn) failed(err error) (news bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.connected = false
	news = err.Error() != c.lastErr
	c.lastErr, c.lastErrAt = err.Error(), time.Now().UTC()
	return news
}

// connectFailed records a failed connect. paho tries again every second
// or so: the log says it when the reason changes, not at every try.
func (c *conn) connectFailed(err error) {
	if c.failed(err) {
		c.b.log.Warn("cannot connect; trying again", "broker", c.name, "err", err)
	} else {
		c.b.log.Debug("cannot connect; trying again", "broker", c.name, "err", err)
	}
}

// watch connects the bridge to what it publishes: positions and alerts
// from the geo engine, presence from the account store. The functions run
// on the database writer's or a session's goroutine: they only queue.
func (b *Bridge) watch() {
	p := b.p
	if p.OutPrefix == "" {
		return
	}
	if p.out[OutPositions] && b.geo != nil {
		b.geo.WatchPositions(func(pos geoloc.Position) {
			if b.stopped.Load() {
				return
			}
			for _, c := range b.conns {
				c.out.position(pos)
			}
		})
	}
	if p.out[OutAlerts] && b.geo != nil {
		b.geo.AddSink(func(events []geoloc.Event) {
			if b.stopped.Load() {
				return
			}
			for _, c := range b.conns {
				c.out.alerts(events)
			}
		})
	}
	if p.out[OutStatus] {
		b.accounts.WatchOnline(func(name string, online bool) {
			if b.stopped.Load() {
				return
			}
			if a, ok := b.accounts.Get(name); !ok || a.Role != devices.RoleDevice {
				return // operators' presence is theirs
			}
			via := b.via(name, online)
			for _, c := range b.conns {
				c.out.status(name, online, via)
			}
		})
	}
}
