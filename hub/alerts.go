package hub

import (
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/pubsub"
)

// Alerts (geofence and threshold events) reach people two ways: a chat
// message from the hub's own JID (hubjid.go) to every JID the fence or rule notifies (stored for
// them when offline), and an item on the pubsub nodes alerts and
// alerts/<fence or rule ID>, whitelist nodes whose members are the
// operators and admins.

const alertsNode = "alerts"

func alertNodeConfig(title string) pubsub.NodeConfig {
	c := pubsub.ServiceDefaults()
	c.Title = title
	c.AccessModel = pubsub.AccessWhitelist
	c.MaxItems = 100
	return c
}

// attachGeo connects the geo engine: it takes geolocation payloads, resolves
// groups through the accounts, and hands its alerts to the hub. The alert
// nodes exist from the start, so operators can subscribe before any alert.
func (s *Server) attachGeo(g *geoloc.Store) {
	s.geo = g
	s.pubsub.Handle(geoloc.NS, g.HandlePayload)
	s.pubsub.Handle(geoloc.NSSensorData, g.HandleSensorData)
	g.SetDirectory(s.accounts)
	g.AddSink(s.alert)
	s.pubsub.EnsureNode(alertsNode, alertNodeConfig("All alerts: geofences and thresholds"))
	for _, f := range g.Fences() {
		s.pubsub.EnsureNode(fenceNode(f.ID), alertNodeConfig("Alerts of "+f.Name))
	}
	s.attachRules(g)
	s.pubsub.SetMembers(alertsNode, s.watchers())
	g.WatchFences(s.fenceChanged)
	s.sweepStop, s.sweepDone = make(chan struct{}), make(chan struct{})
	go s.sweepDwell(g)
}

// dwellSweep is how often devices gone quiet inside a fence are checked
// for their dwell time.
const dwellSweep = 5 * time.Second

func (s *Server) sweepDwell(g *geoloc.Store) {
	defer close(s.sweepDone)
	t := time.NewTicker(dwellSweep)
	defer t.Stop()
	for {
		select {
		case <-s.sweepStop:
			return
		case now := <-t.C:
			if err := g.SweepDwell(now); err != nil {
				s.log.Error("dwell sweep", "err", err)
			}
		}
	}
}

func fenceNode(id string) string { return alertsNode + "/" + id }

// fenceChanged keeps a node per fence: created with the fence, deleted
// (subscribers told) with it.
func (s *Server) fenceChanged(c geoloc.FenceChange) {
	if c.Removed {
		s.pubsub.RemoveNode(fenceNode(c.Fence.ID))
		return
	}
	if s.pubsub.EnsureNode(fenceNode(c.Fence.ID), alertNodeConfig("Alerts of "+c.Fence.Name)) {
		s.pubsub.SetMembers(alertsNode, s.watchers())
	}
}

// alert queues geofence events for delivery. It is the geo engine's sink:
// it runs on the database writer's goroutine, so it only queues.
func (s *Server) alert(events []geoloc.Event) { s.alerts <- events }

func (s *Server) deliverAlerts() {
	defer close(s.alertsDone)
	for batch := range s.alerts {
		for _, e := range batch {
			s.deliverAlert(e)
			s.stats.alerts.Add(1)
		}
	}
}

func (s *Server) deliverAlert(e geoloc.Event) {
	el := e.Element()
	for _, j := range e.Notify {
		b := []byte("<message type='chat'")
		b = append(b, s.hub.fromAttr...)
		b = xmlesc.Attr(b, "to", j)
		b = xmlesc.Attr(b, "id", "alert-"+e.ID)
		b = append(b, "><body>"...)
		b = xmlesc.Text(b, e.Body())
		b = append(b, "</body>"...)
		b = append(b, el...)
		s.sendAsServer(j, append(b, "</message>"...))
	}
	// A fence removed since the event has no node any more; the alert
	// still goes to the node of all alerts.
	for _, node := range []string{alertsNode, fenceNode(e.Fence)} {
		if err := s.pubsub.PublishAs(node, e.ID, el); err != nil && node == alertsNode {
			s.log.Error("publishing an alert", "node", node, "err", err)
		}
	}
}

// watchers are the bare JIDs of operators and admins.
func (s *Server) watchers() []string {
	var out []string
	for _, a := range s.accounts.List(devices.Filter{}) {
		if a.Role.Watches() {
			out = append(out, s.accounts.JID(a.Name))
		}
	}
	return out
}

// sendAsServer delivers a message from the hub's JID, like a message to
// that address from a client: to the resource, else to the account's
// available resources, else into offline storage; nowhere when the
// account blocks the hub's JID.
func (s *Server) sendAsServer(to string, stanza []byte) {
	var scratch []byte
	a, err := s.parseAddr([]byte(to), &scratch)
	if err != nil || s.hubBlocked(string(a.local)) {
		return
	}
	switch a.kind {
	case addrFull:
		if ss := s.router.find(a.local, a.resource); ss != nil {
			ss.send(stanza)
			return
		}
	case addrBare:
	default:
		return
	}
	if s.toAvailable(a.local, stanza) || !s.accounts.Exists(string(a.local)) {
		return
	}
	startEnd := 0
	for i, c := range stanza {
		if c == '>' {
			startEnd = i + 1
			break
		}
	}
	if err := s.storeOffline(string(a.local), stanza, startEnd, false); err != nil {
		s.log.Info("alert not stored for an offline operator", "to", to, "err", err)
	}
}

// Drain delivers what is still queued once the writer has stopped: alerts,
// then pubsub notifications. Call it after Close and after the committer is
// closed.
func (s *Server) Drain() {
	close(s.alerts)
	<-s.alertsDone
	s.pubsub.Close()
}
