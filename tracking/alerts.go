package tracking

import (
	"github.com/geohub/geohub/geoloc"
)

// Alerts (geofence and threshold events) reach people two ways: a chat
// message from the hub's own JID to every JID the fence or rule notifies
// (stored for them when offline), and an item on the alert nodes.

// alertQueue is how many batches of events wait for delivery before more
// are dropped (and counted); holdDelivery, when set, runs before each batch
// is delivered. Variables for the tests.
var (
	alertQueue   = 1024
	holdDelivery func()
)

// alert is the geo engine's sink. It runs on the committer's goroutine, so
// it only hands the batch to the delivery goroutine: when that is too far
// behind, the batch is dropped and counted rather than delaying every
// publish acknowledgement behind it.
func (app *App) alert(events []geoloc.Event) {
	select {
	case app.alerts <- events:
	default:
		app.dropped.Add(uint64(len(events)))
	}
}

// deliverAlerts is the delivery goroutine: it resolves each alert's
// recipients and delivers to them, off the writer goroutine.
func (app *App) deliverAlerts() {
	defer close(app.alertsDone)
	for {
		select {
		case batch, ok := <-app.alerts:
			if !ok {
				return
			}
			if holdDelivery != nil {
				holdDelivery()
			}
			for _, e := range batch {
				app.deliverAlert(e)
				app.delivered.Add(1)
			}
		case c := <-app.catchUps:
			app.sendMissed(c)
		}
	}
}

// deliverAlert sends e to those of its notified who may see its device, and
// publishes it on the node of all alerts, its fence's or rule's, and its
// device's groups'.
func (app *App) deliverAlert(e geoloc.Event) {
	el := e.Element()
	for _, j := range e.Notify {
		if app.getsAlert(j, e) {
			app.sendAlert(j, e)
		}
	}
	app.publishAlert(e.ID, e.Fence, e.Device, el)
	if app.fleet != nil {
		app.fleet.Relay(RelayedAlert{ID: e.ID, Fence: e.Fence, Device: e.Device, Element: el})
	}
}

// publishAlert puts an alert on the node of all alerts, its fence's or
// rule's, and its device's groups'.
func (app *App) publishAlert(id, fence, device string, el []byte) {
	if err := app.pubsub.PublishAs(alertsNode, id, el); err != nil {
		app.log.Error("publishing an alert", "node", alertsNode, "err", err)
	}
	// A fence removed since the event has no node any more.
	app.pubsub.PublishAs(alertNode(fence), id, el)
	for _, g := range app.accounts.GroupsOf(device) {
		app.pubsub.PublishAs(alertGroupNode(g), id, el)
	}
}
