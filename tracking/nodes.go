package tracking

import (
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/pubsub"
)

// The alert nodes on the pubsub service, whitelist nodes the hub keeps and
// alone may create (pubsub's Reserve):
//
//   - alerts: every alert; its members are the admins;
//   - alerts/group/<group>: the alerts about the devices of a group; its
//     members are the group's operators and the admins;
//   - alerts/<ID>, one per fence and per threshold rule (their IDs never
//     collide, and hold no '/'): its members are the admins and the
//     operators who see every device it may alert about.
//
// So an operator reads only alerts about devices they see (visibility.go).
const alertsNode = "alerts"

func alertNode(id string) string { return alertsNode + "/" + id }

func alertGroupNode(group string) string { return alertsNode + "/group/" + group }

func alertNodeConfig(title string) pubsub.NodeConfig {
	c := pubsub.ServiceDefaults()
	c.Title = title
	c.AccessModel = pubsub.AccessWhitelist
	c.MaxItems = 100
	return c
}

// attachNodes takes the alert names for the hub (reclaiming nodes others
// made there), creates the nodes and keeps them and their members in step
// with the fences, rules and accounts from then on.
func (app *App) attachNodes() {
	app.pubsub.Reserve(alertsNode)
	app.pubsub.EnsureNode(alertsNode, alertNodeConfig("All alerts: geofences and thresholds"))
	for _, f := range app.geo.Fences() {
		app.pubsub.EnsureNode(alertNode(f.ID), alertNodeConfig("Alerts of "+f.Name))
	}
	for _, r := range app.geo.Rules() {
		app.pubsub.EnsureNode(alertNode(r.ID), alertNodeConfig("Alerts of "+r.Name))
	}
	app.syncMembers()
	app.geo.WatchFences(func(c geoloc.FenceChange) { app.nodeChanged(c.Fence.ID, c.Fence.Name, c.Removed) })
	app.geo.WatchRules(func(c geoloc.RuleChange) { app.nodeChanged(c.Rule.ID, c.Rule.Name, c.Removed) })
}

// nodeChanged creates a fence's or rule's node with it and deletes it
// (telling its subscribers) with it; a changed rule may change who gets
// its alerts.
func (app *App) nodeChanged(id, name string, removed bool) {
	if removed {
		app.pubsub.RemoveNode(alertNode(id))
		return
	}
	app.pubsub.EnsureNode(alertNode(id), alertNodeConfig("Alerts of "+name))
	app.syncMembers()
}

// syncMembers sets the members of every alert node from the accounts,
// fences and rules now, creating the node of each group that has one.
func (app *App) syncMembers() {
	app.membersMu.Lock()
	defer app.membersMu.Unlock()
	var admins, operators []devices.Account
	groups := map[string][]string{} // group -> its operators' and the admins' JIDs
	for _, a := range app.accounts.List(devices.Filter{}) {
		switch {
		case a.Role == devices.RoleAdmin:
			admins = append(admins, a)
		case a.Role.Watches():
			operators = append(operators, a)
		}
		for _, g := range a.Groups {
			if _, ok := groups[g]; !ok {
				groups[g] = nil
			}
			if a.Role == devices.RoleOperator {
				groups[g] = append(groups[g], app.accounts.JID(a.Name))
			}
		}
	}
	adminJIDs := make([]string, 0, len(admins))
	for _, a := range admins {
		adminJIDs = append(adminJIDs, app.accounts.JID(a.Name))
	}
	members := func(may func(devices.Account) bool) []string {
		out := append([]string(nil), adminJIDs...)
		for _, a := range operators {
			if may(a) {
				out = append(out, app.accounts.JID(a.Name))
			}
		}
		return out
	}
	app.pubsub.SetMembers(alertsNode, adminJIDs)
	app.groupNodes = make(map[string]bool, len(groups))
	for g, ops := range groups {
		app.groupNodes[g] = true
		node := alertGroupNode(g)
		app.pubsub.EnsureNode(node, alertNodeConfig("Alerts of group "+g))
		app.pubsub.SetMembers(node, append(ops, adminJIDs...))
	}
	for _, f := range app.geo.Fences() {
		app.pubsub.SetMembers(alertNode(f.ID), members(func(a devices.Account) bool { return app.getsFence(a, f) }))
	}
	for _, r := range app.geo.Rules() {
		app.pubsub.SetMembers(alertNode(r.ID), members(func(a devices.Account) bool { return app.getsRule(a, r) }))
	}
}
