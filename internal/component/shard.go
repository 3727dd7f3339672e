package component

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
)

// Sharding: several GeoHub instances serve one component domain, which
// the upstream (ejabberd's domain_balancing, type bare_source) shares out
// by the sender's bare JID, so that each device's stanzas always reach the
// same instance, which owns its data. Everything one sender sends reaches
// one instance, so what every instance must hear (the shared fences) or
// what one instance asks another (fleet-wide queries) travels over a
// second link per instance, at a domain of its own (--component-instance):
// the Shard.

// Shard is this instance's own link and what travels over it.
type Shard struct {
	Link     *Link    // at the instance's own domain
	Peers    []string // the other instances' own domains
	Timeout  time.Duration
	Geo      *geoloc.Store
	Accounts *devices.Store
	Shared   *SharedConfig // nil: fences and rules are not shared

	reqs requests
}

// Handle takes one element from the instance's link.
func (s *Shard) Handle(raw []byte) {
	el, err := xmlnode.Parse(bytes.Clone(raw), NS)
	if err != nil {
		return
	}
	from := el.Attr("from")
	switch el.Local {
	case "iq":
		switch el.Attr("type") {
		case "result", "error":
			s.reqs.answer(el)
		case "get", "set":
			s.request(el, from)
		}
	case "message":
		if s.Shared != nil {
			s.Shared.event(el, from)
		}
	}
}

// request answers a peer's query about this instance's devices, an
// operator's about the fleet (so that an operator may ask a given
// instance, whichever the component's domain sends them to), and pings.
func (s *Shard) request(el *xmlnode.Node, from string) {
	if len(el.Children) != 1 {
		s.Link.Send(iqError(el, "modify", "bad-request", ""))
		return
	}
	p := el.Children[0]
	switch {
	case p.Space == nsPing && p.Local == "ping":
		s.Link.Send(iqResult(el))
	case p.Space == NSShard && el.Attr("type") == "get" && !slices.Contains(s.Peers, bareOf(from)):
		fleetQuery(s.Link, s.Accounts, s.Geo, s, el, p, from)
	case p.Space == NSShard && el.Attr("type") == "get":
		// A peer: the upstream lets a component send from its own
		// domain alone, so from names the instance.
		q, err := parseQuery(p)
		if err != nil {
			s.Link.Send(iqError(el, "modify", "bad-request", err.Error()))
			return
		}
		var hits []hit
		if sees, ok := seer(s.Accounts, p.Attr("for")); ok {
			hits = q.run(s.Geo, sees)
		}
		b := append(iqHead("result", s.Link.Domain(), from, el.Attr("id")), "><"+q.kind+" xmlns='"+NSShard+"'>"...)
		b = q.appendHits(b, hits)
		s.Link.Send(append(b, "</"+q.kind+"></iq>"...))
	default:
		s.Link.Send(iqError(el, "cancel", "service-unavailable", ""))
	}
}

// shardStatus is how one instance took part in an answer.
type shardStatus struct {
	domain, status, reason string
}

// ask answers q across the fleet for viewer: this instance's devices and
// each peer's, asked at once; a peer that does not answer within the
// timeout is reported missing, not left out silently.
func (s *Shard) ask(q query, viewer string, sees func(string) bool) ([]hit, []shardStatus) {
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	parts := make([][]hit, len(s.Peers)+1)
	statuses := make([]shardStatus, len(s.Peers)+1)
	parts[0], statuses[0] = q.run(s.Geo, sees), shardStatus{s.Link.Domain(), "ok", ""}
	var wg sync.WaitGroup
	for i, peer := range s.Peers {
		wg.Go(func() {
			answer, err := s.reqs.call(ctx, s.Link, func(id string) []byte {
				b := append(iqHead("get", s.Link.Domain(), peer, id), '>')
				return append(q.appendRequest(b, viewer), "</iq>"...)
			})
			if err == nil && answer.Attr("type") == "error" {
				err = iqFailed(answer)
			}
			if err != nil {
				statuses[i+1] = shardStatus{peer, "missing", err.Error()}
				return
			}
			parts[i+1], statuses[i+1] = parseHits(answer), shardStatus{peer, "ok", ""}
		})
	}
	wg.Wait()
	return q.merge(parts...), statuses
}

// appendStatuses writes a <shard/> per instance.
func appendStatuses(b []byte, statuses []shardStatus) []byte {
	for _, st := range statuses {
		b = append(b, "<shard"...)
		b = xmlesc.Attr(b, "domain", st.domain)
		b = xmlesc.Attr(b, "status", st.status)
		if st.reason != "" {
			b = xmlesc.Attr(b, "reason", st.reason)
		}
		b = append(b, "/>"...)
	}
	return b
}

// Start connects the instance's link; with a shared configuration, the
// fences and rules are kept in step from then on.
func (s *Shard) Start() {
	if s.Timeout <= 0 {
		s.Timeout = 2 * time.Second
	}
	if s.Shared != nil {
		s.Shared.start(s)
		s.Link.OnUp(s.Shared.linked)
	}
	s.Link.Start(s.Handle)
}
