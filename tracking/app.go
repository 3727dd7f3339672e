package tracking

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/pubsub"
)

// Config is what the application runs on.
type Config struct {
	Hub      *hub.Server
	Accounts *devices.Store
	Geo      *geoloc.Store
	Logger   *slog.Logger
	// FixRate is how many positions and readings (XEP-0080, XEP-0323) one
	// account may publish a second, sustained, and FixBurst how many above
	// it at once; 0: unlimited (serve's default is DefaultFixRate).
	FixRate  float64
	FixBurst int
	// Fleet, in a sharded deployment, answers for the other instances:
	// the chat commands ask it, and this instance's alerts are relayed
	// to it. Nil: this instance is the whole fleet.
	Fleet Fleet
}

// App is the running geo application.
type App struct {
	hub      *hub.Server
	pubsub   *pubsub.Service
	accounts *devices.Store
	geo      *geoloc.Store
	log      *slog.Logger
	fleet    Fleet

	alerts     chan []geoloc.Event // from the writer to the delivery goroutine
	alertsDone chan struct{}
	delivered  atomic.Uint64
	dropped    atomic.Uint64

	fixRate      *fixRate
	fixesRefused atomic.Uint64

	sweepStop, sweepDone chan struct{}
	summaryDone          chan struct{} // the daily summaries (summaries.go), stopped with the sweep

	membersMu  sync.Mutex      // one syncMembers at a time, so the last one wins
	groupNodes map[string]bool // the groups syncMembers made a node for; under membersMu

	// Missed alerts (missed.go): catchUps and pending from Available;
	// sentUpTo and liveSent belong to the delivery goroutine.
	catchUps     chan catchUp
	pendingMu    sync.Mutex
	pending      map[string]bool
	sentUpTo     map[string]string
	liveSent     map[string]map[string]bool
	caughtUp     atomic.Uint64 // alerts sent at login
	catchUpsDone atomic.Uint64 // logins checked for missed alerts
}

// New connects the geo engine to the hub: its payload handlers, its alerts,
// the alert nodes (which exist from the start, so operators can subscribe
// before any alert) and the chat commands; and starts the alert delivery
// and the dwell sweep. Call it before the hub's Start; Close and Drain
// stop it.
func New(cfg Config) *App {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	app := &App{hub: cfg.Hub, pubsub: cfg.Hub.PubSub(), accounts: cfg.Accounts, geo: cfg.Geo, log: cfg.Logger, fleet: cfg.Fleet,
		alerts: make(chan []geoloc.Event, alertQueue), alertsDone: make(chan struct{}),
		sweepStop: make(chan struct{}), sweepDone: make(chan struct{}), summaryDone: make(chan struct{}), fixRate: newFixRate(cfg.FixRate, cfg.FixBurst),
		catchUps: make(chan catchUp, alertQueue), pending: map[string]bool{}, sentUpTo: map[string]string{},
		liveSent: map[string]map[string]bool{}}
	g := cfg.Geo
	var ingest geoloc.Ingester = g // pubsub stages each payload through it
	app.pubsub.Handle(geoloc.NS, app.limited(ingest.HandlePayload))
	app.pubsub.Handle(geoloc.NSSensorData, app.limited(ingest.HandleSensorData))
	g.SetDirectory(cfg.Accounts)
	g.AddSink(app.alert)
	app.attachNodes()
	cfg.Accounts.Watch(app.accountChanged)
	cfg.Hub.HandleMessages(app)
	cfg.Hub.HandleNodeHistory(geoloc.NS, trailHistory{g}) // history.go
	go app.deliverAlerts()
	go app.sweepDwell()
	go app.sendSummaries()
	return app
}

// Close stops the dwell sweep and the daily summaries. Call it after the
// hub's Close and before the committer closes.
func (app *App) Close() {
	close(app.sweepStop)
	<-app.sweepDone
	<-app.summaryDone
}

// Drain delivers the alerts still queued once the writer has stopped. Call
// it after the committer is closed and before the hub's Drain.
func (app *App) Drain() {
	close(app.alerts)
	<-app.alertsDone
}

// Stats are the application's running counts, for /metrics.
type Stats struct {
	AlertsDelivered uint64 // alert events handed out: chat messages to the notified and pubsub items
	AlertsDropped   uint64 // alert events not delivered because the delivery queue was full
	FixesRefused    uint64 // positions and readings refused for their device's rate (FixRate)
	AlertsCaughtUp  uint64 // alerts an operator missed, sent from the records when they came back
}

// Stats returns the counts so far; it is cheap and safe at any time.
func (app *App) Stats() Stats {
	return Stats{AlertsDelivered: app.delivered.Load(), AlertsDropped: app.dropped.Load(), FixesRefused: app.fixesRefused.Load(),
		AlertsCaughtUp: app.caughtUp.Load()}
}

// accountChanged forgets what the geo engine kept of a removed account, and
// keeps the alert nodes' members in step: a role or a group changes who
// sees which devices.
func (app *App) accountChanged(c devices.Change) {
	if c.Kind == devices.Removed && c.Before != nil {
		app.fixRate.forget(app.accounts.JID(c.Before.Name))
		if err := app.geo.Forget(app.accounts.JID(c.Before.Name)); err != nil {
			app.log.Error("forgetting a removed account's positions", "account", c.Before.Name, "err", err)
		}
	}
	if app.changesMembers(c) {
		app.syncMembers()
	}
}

// changesMembers reports whether an account change can change an alert
// node's members: a watcher's role or groups, or a device that brings a
// group with no node yet. Devices are most accounts, and a pass over
// every account for each one added made provisioning n devices take n²
// steps.
func (app *App) changesMembers(c devices.Change) bool {
	if c.Before != nil && c.After != nil && c.Before.Role == c.After.Role && slices.Equal(c.Before.Groups, c.After.Groups) {
		return false
	}
	for _, a := range []*devices.Account{c.Before, c.After} {
		if a != nil && a.Role.Watches() {
			return true
		}
	}
	if c.After == nil {
		return false // a device gone leaves its groups' nodes as they are
	}
	app.membersMu.Lock()
	defer app.membersMu.Unlock()
	for _, g := range c.After.Groups {
		if !app.groupNodes[g] {
			return true
		}
	}
	return false
}
