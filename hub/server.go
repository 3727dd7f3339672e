package hub

import (
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/pubsub"
	"github.com/tidwall/buntdb"
)

// Config is what the hub needs to run. Zero limits take their defaults.
type Config struct {
	Domain     string
	C2S        string // STARTTLS listener address; empty disables it
	C2STLS     string // direct TLS listener address (XEP-0368); empty disables it
	AllowPlain bool   // let clients skip STARTTLS (local development only)
	TLS        *tls.Config
	Limits     Limits
	OfflineCap int              // stored offline messages per account
	SM         StreamManagement // XEP-0198: sm.go
	// Archive is the message archive of every account (XEP-0313):
	// mam_store.go.
	Archive ArchiveConfig
	Version string
	Logger  *slog.Logger

	// Commit is the database's group-commit writer; pubsub items are
	// acknowledged once it has made them durable.
	Commit *store.Committer
	// PubSubHost is the pubsub service's JID; empty means pubsub.<domain>.
	PubSubHost string
	// DevicesCreateNodes lets devices create nodes on the pubsub service.
	DevicesCreateNodes bool
	// HubName is the localpart of the hub's own JID, which sends alerts
	// and answers chat commands (hubjid.go); the account store reserves
	// it. Empty means the name the store has, by default geohub.
	HubName string
	// Upstream, when set, is the server the hub is a component of
	// (upstream.go): what the hub sends its accounts goes there.
	Upstream Upstream
	// Federation, when set, turns on server-to-server (federation.go).
	Federation *FederationConfig
}

// Limits protect the hub from peers that send too much or too fast.
type Limits struct {
	MaxStanzaSize      int           // bytes in one stanza
	MaxDepth           int           // element nesting in one stanza
	NegotiationTimeout time.Duration // from connect to bound resource
	IdleTimeout        time.Duration // silence before the hub pings, then closes
	MaxAuthFailures    int           // per address per AuthFailureWindow before logins are refused
	AuthFailureWindow  time.Duration
	MaxConnsPerIP      int     // open connections from one address; 0 = unlimited
	MaxConns           int     // open connections and sessions, all transports; 0 = from RLIMIT_NOFILE, -1 = unlimited
	ConnRate           float64 // new connections per second from one address; 0 = unlimited
	ConnBurst          int
	OfflineBytes       int // bytes of stored offline messages per account

	// Delivery under pressure (backlog.go, shaper.go). A session that
	// sends faster than StanzaRate stanzas or ByteRate bytes a second,
	// beyond a burst, has its reads paused; negative rates are unlimited.
	// A session that falls behind has its queued notifications and
	// presence conflated, and is cut off only when more than MaxPending
	// bytes wait for it or nothing could be written to it for
	// StallTimeout.
	StanzaRate  float64
	StanzaBurst int
	// MessageRate and MessageBurst shape <message/> stanzas alone, more
	// tightly: people and chat commands send a few a second, and each is
	// routed to someone else, where a fix only reaches its subscribers'
	// queues, conflated.
	MessageRate  float64
	MessageBurst int
	ByteRate     float64
	ByteBurst    int
	MaxPending   int
	StallTimeout time.Duration
}

// DefaultLimits are used for zero fields of Limits.
var DefaultLimits = Limits{
	MaxStanzaSize:      256 << 10,
	MaxDepth:           48,
	NegotiationTimeout: 30 * time.Second,
	IdleTimeout:        10 * time.Minute,
	MaxAuthFailures:    10,
	AuthFailureWindow:  10 * time.Minute,
	MaxConnsPerIP:      1000,
	ConnRate:           50,
	ConnBurst:          1000,
	OfflineBytes:       1 << 20,
	StanzaRate:         200,
	StanzaBurst:        1000,
	MessageRate:        20,
	MessageBurst:       200,
	ByteRate:           256 << 10,
	ByteBurst:          1 << 20,
	MaxPending:         16 << 20,
	StallTimeout:       30 * time.Second,
}

func (l *Limits) fill() {
	d := DefaultLimits
	if l.MaxStanzaSize <= 0 {
		l.MaxStanzaSize = d.MaxStanzaSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.NegotiationTimeout <= 0 {
		l.NegotiationTimeout = d.NegotiationTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MaxAuthFailures <= 0 {
		l.MaxAuthFailures = d.MaxAuthFailures
	}
	if l.AuthFailureWindow <= 0 {
		l.AuthFailureWindow = d.AuthFailureWindow
	}
	if l.MaxPending <= 0 {
		l.MaxPending = d.MaxPending
	}
	if l.OfflineBytes <= 0 {
		l.OfflineBytes = d.OfflineBytes
	}
	if l.ConnBurst <= 0 {
		l.ConnBurst = d.ConnBurst
	}
	if l.MaxConns == 0 {
		l.MaxConns = connCapFromFDs()
	}
	if l.StanzaRate == 0 {
		l.StanzaRate = d.StanzaRate
	}
	if l.StanzaBurst <= 0 {
		l.StanzaBurst = d.StanzaBurst
	}
	if l.MessageRate == 0 {
		l.MessageRate = d.MessageRate
	}
	if l.MessageBurst <= 0 {
		l.MessageBurst = d.MessageBurst
	}
	if l.ByteRate == 0 {
		l.ByteRate = d.ByteRate
	}
	if l.ByteBurst <= 0 {
		l.ByteBurst = d.ByteBurst
	}
	if l.StallTimeout <= 0 {
		l.StallTimeout = d.StallTimeout
	}
}

// DefaultOfflineCap is the default number of stored offline messages per
// account (XEP-0160).
const DefaultOfflineCap = 100

// Server is a running hub.
type Server struct {
	cfg        Config
	domain     string
	log        *slog.Logger
	db         *buntdb.DB
	accounts   devices.Accounts
	router     *router
	rosters    *rosters
	blocking   *blocklists
	offline    *offline
	archive    *archive               // messages archived per account (XEP-0313): mam_store.go
	histories  map[string]NodeHistory // node name -> its past items, for MAM on nodes: mam_pubsub.go
	limiter    *limiter
	iqHandlers map[xml.Name]iqHandler
	pubsub     *pubsub.Service
	caps       capsCache
	pendingMu  sync.Mutex
	pending    map[string]pendingIQ // IQs the hub sent, by id
	messages   MessageHandler       // messages to the hub's JID and the domain: handler.go
	directTLS  *tls.Config          // cfg.TLS with ALPN xmpp-client (XEP-0368)
	stats      counters             // for Stats
	remote     remotes              // resources online through other transports: remote.go
	remotePEP  remotePEP            // remote resources' presence and caps, for PEP: remotepep.go
	resumable  resumables           // sessions that can be resumed: sm_resume.go
	hub        hubJID               // the hub's own contact: hubjid.go
	fed        *federation          // nil unless federating: federation.go

	// Accept errors and the connection cap: accept.go.
	quit          chan struct{} // closed by Close
	acceptHealth  acceptHealth
	refusedLog    logSample              // "connection refused", at most once a second
	shaping       atomic.Pointer[Limits] // the reloadable limits in force (reload.go)
	overCapLogged atomic.Int64           // unix ns of the last "at the connection cap" log line

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{} // connections still negotiating
	closed    bool
	wg        sync.WaitGroup
}

// New builds a hub over an open database and account store. The domain of
// the hub is the account store's.
func New(cfg Config, db *buntdb.DB, accounts devices.Accounts) (*Server, error) {
	if cfg.TLS == nil && !cfg.AllowPlain {
		return nil, errors.New("hub: TLS configuration required unless plain connections are allowed")
	}
	if cfg.Commit == nil {
		return nil, errors.New("hub: a committer is required")
	}
	cfg.Limits.fill()
	cfg.SM.fill()
	if cfg.OfflineCap <= 0 {
		cfg.OfflineCap = DefaultOfflineCap
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	hubName, err := accounts.SetHubName(cfg.HubName)
	if err != nil {
		return nil, fmt.Errorf("hub: hub name: %w", err)
	}
	s := &Server{
		cfg:        cfg,
		domain:     accounts.Domain(),
		log:        cfg.Logger,
		db:         db,
		accounts:   accounts,
		conns:      map[net.Conn]struct{}{},
		quit:       make(chan struct{}),
		pending:    map[string]pendingIQ{},
		caps:       capsCache{ver: map[string]features{}},
		refusedLog: logSample{period: time.Second},
	}
	s.hub = newHubJID(hubName, s.domain)
	s.router = newRouter()
	s.limiter = newLimiter(cfg.Limits)
	s.shaping.Store(&cfg.Limits)
	s.rosters = newRosters(s)
	s.blocking = newBlocklists(s)
	s.offline = &offline{commit: cfg.Commit, cap: cfg.OfflineCap, bytes: cfg.Limits.OfflineBytes}
	s.archive = newArchive(cfg.Archive, db, cfg.Commit, cfg.Logger)
	s.iqHandlers = s.iqRoutes()
	host := cfg.PubSubHost
	if host == "" {
		host = "pubsub." + s.domain
	}
	ps, err := pubsub.New(pubsub.Config{Host: host, DevicesCreateNodes: cfg.DevicesCreateNodes, Logger: cfg.Logger},
		db, cfg.Commit, accounts, pubsubDirectory{s})
	if err != nil {
		return nil, err
	}
	s.pubsub = ps
	if cfg.TLS != nil {
		s.directTLS = cfg.TLS.Clone()
		s.directTLS.NextProtos = []string{"xmpp-client"}
	}
	accounts.Watch(s.accountChanged)
	accounts.WatchPasswords(s.passwordChanged)
	return s, nil
}

// PubSub is the publish-subscribe service, for the application above the
// hub: registering payload handlers before Start, its own nodes.
func (s *Server) PubSub() *pubsub.Service { return s.pubsub }

// Domain is the XMPP domain the hub serves.
func (s *Server) Domain() string { return s.domain }

// Start opens the configured listeners and serves them in the background.
func (s *Server) Start() error {
	for _, l := range []struct {
		addr      string
		directTLS bool
	}{{s.cfg.C2S, false}, {s.cfg.C2STLS, true}} {
		if l.addr == "" {
			continue
		}
		if l.directTLS && s.cfg.TLS == nil {
			return errors.New("hub: direct TLS listener needs a TLS configuration")
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			s.Close()
			return fmt.Errorf("hub: listen %s: %w", l.addr, err)
		}
		s.mu.Lock()
		s.listeners = append(s.listeners, ln)
		s.mu.Unlock()
		s.wg.Go(func() { s.accept(ln, l.directTLS) })
		s.log.Info("listening", "addr", ln.Addr().String(), "direct_tls", l.directTLS)
	}
	if err := s.startFederation(); err != nil {
		s.Close()
		return fmt.Errorf("hub: federation: %w", err)
	}
	return nil
}

// Addrs returns the addresses of the STARTTLS and direct TLS listeners, for
// tests that listen on port 0.
func (s *Server) Addrs() (c2s, c2sTLS string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	if s.cfg.C2S != "" && i < len(s.listeners) {
		c2s = s.listeners[i].Addr().String()
		i++
	}
	if s.cfg.C2STLS != "" && i < len(s.listeners) {
		c2sTLS = s.listeners[i].Addr().String()
	}
	return c2s, c2sTLS
}

// track registers a connection that is still negotiating so that Close can
// interrupt it; it reports false once the server is closed.
func (s *Server) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closed {
			return false
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

// Close stops the listeners, ends every session with a system-shutdown
// stream error and waits for the connections to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	for _, ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.hubGone()
	if s.fed != nil {
		s.fed.close()
	}
	for _, ss := range s.router.all() {
		ss.closeWithError(errSystemShutdown)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.log.Warn("connections still open after shutdown timeout")
	}
	return nil
}

// Sessions returns the number of bound sessions.
func (s *Server) Sessions() int { return s.router.count() }
