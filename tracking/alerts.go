package tracking

import (
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
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
	for batch := range app.alerts {
		if holdDelivery != nil {
			holdDelivery()
		}
		for _, e := range batch {
			app.deliverAlert(e)
			app.delivered.Add(1)
		}
	}
}

func (app *App) deliverAlert(e geoloc.Event) {
	el := e.Element()
	body := e.Body()
	for _, j := range e.Notify {
		app.hub.SendChat(hub.Chat{To: j, ID: "alert-" + e.ID, Body: body, Payload: el})
	}
	// A fence removed since the event has no node any more; the alert
	// still goes to the node of all alerts.
	for _, node := range []string{alertsNode, alertNode(e.Fence)} {
		if err := app.pubsub.PublishAs(node, e.ID, el); err != nil && node == alertsNode {
			app.log.Error("publishing an alert", "node", node, "err", err)
		}
	}
}
