package hub

import "github.com/geohub/geohub/geoloc"

// Threshold rules on sensor readings raise alerts like fences do, and each
// has its node, alerts/<rule ID>, beside the fences' nodes (rule IDs and
// fence IDs never collide). Their alerts reach deliverAlert with the rule in
// the event's Fence.

// attachRules creates the node of every rule and keeps one per rule from
// then on. attachGeo calls it before it sets the members of the alert nodes.
func (s *Server) attachRules(g *geoloc.Store) {
	for _, r := range g.Rules() {
		s.pubsub.EnsureNode(fenceNode(r.ID), alertNodeConfig("Alerts of "+r.Name))
	}
	g.WatchRules(s.ruleChanged)
}

// ruleChanged creates a rule's node with the rule and deletes it (telling
// its subscribers) with the rule.
func (s *Server) ruleChanged(c geoloc.RuleChange) {
	if c.Removed {
		s.pubsub.RemoveNode(fenceNode(c.Rule.ID))
		return
	}
	if s.pubsub.EnsureNode(fenceNode(c.Rule.ID), alertNodeConfig("Alerts of "+c.Rule.Name)) {
		s.pubsub.SetMembers(alertsNode, s.watchers())
	}
}
