package tracking

import (
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/pubsub"
)

// The alert nodes on the pubsub service: alerts, with every alert, and
// alerts/<ID> per fence and per threshold rule (their IDs never collide),
// whitelist nodes whose members are the operators and admins.

const alertsNode = "alerts"

func alertNode(id string) string { return alertsNode + "/" + id }

func alertNodeConfig(title string) pubsub.NodeConfig {
	c := pubsub.ServiceDefaults()
	c.Title = title
	c.AccessModel = pubsub.AccessWhitelist
	c.MaxItems = 100
	return c
}

// attachNodes creates the node of all alerts and one per fence and rule,
// keeps one per fence and rule from then on, and sets the members.
func (app *App) attachNodes() {
	app.pubsub.EnsureNode(alertsNode, alertNodeConfig("All alerts: geofences and thresholds"))
	for _, f := range app.geo.Fences() {
		app.pubsub.EnsureNode(alertNode(f.ID), alertNodeConfig("Alerts of "+f.Name))
	}
	for _, r := range app.geo.Rules() {
		app.pubsub.EnsureNode(alertNode(r.ID), alertNodeConfig("Alerts of "+r.Name))
	}
	app.pubsub.SetMembers(alertsNode, app.watchers())
	app.geo.WatchFences(func(c geoloc.FenceChange) { app.nodeChanged(c.Fence.ID, c.Fence.Name, c.Removed) })
	app.geo.WatchRules(func(c geoloc.RuleChange) { app.nodeChanged(c.Rule.ID, c.Rule.Name, c.Removed) })
}

// nodeChanged creates a fence's or rule's node with it and deletes it
// (telling its subscribers) with it.
func (app *App) nodeChanged(id, name string, removed bool) {
	if removed {
		app.pubsub.RemoveNode(alertNode(id))
		return
	}
	if app.pubsub.EnsureNode(alertNode(id), alertNodeConfig("Alerts of "+name)) {
		app.pubsub.SetMembers(alertsNode, app.watchers())
	}
}
