package tracking

import (
	"log/slog"
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
}

// App is the running geo application.
type App struct {
	hub      *hub.Server
	pubsub   *pubsub.Service
	accounts *devices.Store
	geo      *geoloc.Store
	log      *slog.Logger

	alerts     chan []geoloc.Event // from the writer to the delivery goroutine
	alertsDone chan struct{}
	delivered  atomic.Uint64
	dropped    atomic.Uint64

	sweepStop, sweepDone chan struct{}
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
	app := &App{hub: cfg.Hub, pubsub: cfg.Hub.PubSub(), accounts: cfg.Accounts, geo: cfg.Geo, log: cfg.Logger,
		alerts: make(chan []geoloc.Event, alertQueue), alertsDone: make(chan struct{}),
		sweepStop: make(chan struct{}), sweepDone: make(chan struct{})}
	g := cfg.Geo
	var ingest geoloc.Ingester = g // pubsub stages each payload through it
	app.pubsub.Handle(geoloc.NS, ingest.HandlePayload)
	app.pubsub.Handle(geoloc.NSSensorData, ingest.HandleSensorData)
	g.SetDirectory(cfg.Accounts)
	g.AddSink(app.alert)
	app.attachNodes()
	cfg.Accounts.Watch(app.accountChanged)
	cfg.Hub.HandleMessages(app)
	go app.deliverAlerts()
	go app.sweepDwell()
	return app
}

// Close stops the dwell sweep. Call it after the hub's Close and before the
// committer closes.
func (app *App) Close() {
	close(app.sweepStop)
	<-app.sweepDone
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
}

// Stats returns the counts so far; it is cheap and safe at any time.
func (app *App) Stats() Stats {
	return Stats{AlertsDelivered: app.delivered.Load(), AlertsDropped: app.dropped.Load()}
}

// accountChanged forgets what the geo engine kept of a removed account, and
// keeps the alert nodes' members (the operators and admins) in step.
func (app *App) accountChanged(c devices.Change) {
	if c.Kind == devices.Removed && c.Before != nil {
		if err := app.geo.Forget(app.accounts.JID(c.Before.Name)); err != nil {
			app.log.Error("forgetting a removed account's positions", "account", c.Before.Name, "err", err)
		}
	}
	if c.Before == nil || c.After == nil || c.Before.Role != c.After.Role {
		app.pubsub.SetMembers(alertsNode, app.watchers())
	}
}

// watchers are the bare JIDs of operators and admins.
func (app *App) watchers() []string {
	var out []string
	for _, a := range app.accounts.List(devices.Filter{}) {
		if a.Role.Watches() {
			out = append(out, app.accounts.JID(a.Name))
		}
	}
	return out
}
