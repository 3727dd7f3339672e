package component

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/tracking"
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
	// OnAlert puts a peer's alert on this instance's alert nodes
	// (tracking.App.PublishRelayed); nil: peers' alerts are ignored.
	OnAlert func(tracking.RelayedAlert)
	// Messages answers chat commands sent to the instance's own domain
	// (tracking.App), so that an operator may ask a given instance; nil:
	// they go unanswered.
	Messages hub.MessageHandler

	reqs requests
	live live
	chat *chat // made on the reading goroutine
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
		switch {
		case len(el.Children) == 1 && el.Children[0].Space == NSShard:
			if el.Attr("type") != "error" && slices.Contains(s.Peers, bareOf(from)) {
				s.peerMessage(el.Children[0], bareOf(from))
			}
		case el.Child(NS, "body") != nil && s.Messages != nil && (s.Shared == nil || bareOf(from) != s.Shared.Service):
			if s.chat == nil {
				s.chat = newChat(s.Link, s.Accounts, s.Messages, true)
			}
			s.chat.message(el, from, el.Attr("to"))
		case s.Shared != nil:
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
	peer := slices.Contains(s.Peers, bareOf(from))
	switch {
	case p.Space == nsPing && p.Local == "ping":
		s.Link.Send(iqResult(el))
	case p.Space == NSShard && el.Attr("type") == "get" && !peer:
		fleetQuery(s.Link, s.Accounts, s.Geo, s, el, p, from)
	case p.Space == NSShard && p.Local == "trail" && el.Attr("type") == "get" && peer:
		s.answerTrail(el, p, from)
	case p.Space == NSShard && p.Local == "series" && el.Attr("type") == "get" && peer:
		s.answerSeries(el, p, from)
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
		hits, more := q.page(hits)
		b := append(iqHead("result", s.Link.Domain(), from, el.Attr("id")), "><"+q.kind+" xmlns='"+NSShard+"'"...)
		if more {
			b = append(b, " more='true'"...)
		}
		b = q.appendHits(append(b, '>'), hits, s.Accounts, s.Geo)
		s.Link.Send(append(b, "</"+q.kind+"></iq>"...))
	case p.Space == NSShard && p.Local == "watch" && peer:
		s.live.watched(bareOf(from))
		s.Link.Send(iqResult(el))
	default:
		s.Link.Send(iqError(el, "cancel", "service-unavailable", ""))
	}
}

// peerMessage takes what a peer sends unasked: its devices' positions
// (live.go) and its alerts.
func (s *Shard) peerMessage(p *xmlnode.Node, from string) {
	switch p.Local {
	case "positions":
		hits := parseHitsOf(p)
		for i := range hits {
			hits[i].Instance = from
		}
		s.live.received(hits)
	case "alert":
		if s.OnAlert != nil && len(p.Children) == 1 {
			s.OnAlert(tracking.RelayedAlert{ID: p.Attr("id"), Fence: p.Attr("fence"), Device: p.Attr("device"), Element: []byte(p.Children[0].Raw)})
		}
	}
}

// shardStatus is how one instance took part in an answer.
type shardStatus = tracking.ShardStatus

// ask answers q across the fleet for viewer: this instance's devices and
// each peer's, asked at once; a peer that does not answer within the
// timeout is reported missing, not left out silently.
func (s *Shard) ask(q query, viewer string, sees func(string) bool) ([]hit, []shardStatus) {
	theirs, statuses := s.gather(q, viewer)
	return q.merge(q.run(s.Geo, sees), theirs), statuses
}

// gather asks every peer q for viewer, each page of a list, all within
// the timeout, and returns what they answered with every instance's
// status, this one first.
func (s *Shard) gather(q query, viewer string) ([]hit, []shardStatus) {
	parts := make([][]hit, len(s.Peers))
	statuses := s.fanOut(s.Timeout, func(ctx context.Context, i int, peer string) shardStatus {
		var out []hit
		st := s.pages(ctx, peer, func(b []byte, after string) []byte {
			pq := q
			pq.after = after
			return pq.appendRequest(b, viewer)
		}, func(answer *xmlnode.Node) string {
			page := parseHits(answer)
			for j := range page {
				page[j].Instance = peer
			}
			out = append(out, page...)
			if p := answer.Child(NSShard, q.kind); p == nil || p.Attr("more") != "true" || len(page) == 0 {
				return ""
			}
			return page[len(page)-1].Device
		})
		if st.Status == "ok" {
			parts[i] = out
		}
		return st
	})
	return slices.Concat(parts...), statuses
}

// fanOut runs ask for every peer at once, all within total, and returns
// every instance's status, this one first.
func (s *Shard) fanOut(total time.Duration, ask func(ctx context.Context, i int, peer string) shardStatus) []shardStatus {
	ctx, cancel := context.WithTimeout(context.Background(), total)
	defer cancel()
	statuses := make([]shardStatus, len(s.Peers)+1)
	statuses[0] = shardStatus{Instance: s.Link.Domain(), Status: "ok"}
	var wg sync.WaitGroup
	for i, peer := range s.Peers {
		wg.Go(func() { statuses[i+1] = ask(ctx, i, peer) })
	}
	wg.Wait()
	return statuses
}

// pages asks one peer page after page, each within the timeout: request
// writes the question for the page after a key ("" the first), read
// takes an answer and returns the key of the next page ("": it was the
// last).
func (s *Shard) pages(ctx context.Context, peer string, request func(b []byte, after string) []byte, read func(answer *xmlnode.Node) (next string)) shardStatus {
	for after := ""; ; {
		page, cancel := context.WithTimeout(ctx, s.Timeout)
		answer, err := s.reqs.call(page, s.Link, func(id string) []byte {
			b := append(iqHead("get", s.Link.Domain(), peer, id), '>')
			return append(request(b, after), "</iq>"...)
		})
		cancel()
		if err == nil && answer.Attr("type") == "error" {
			err = iqFailed(answer)
		}
		if err != nil {
			return shardStatus{Instance: peer, Status: "missing", Reason: err.Error()}
		}
		if after = read(answer); after == "" {
			return shardStatus{Instance: peer, Status: "ok"}
		}
	}
}

// appendStatuses writes a <shard/> per instance.
func appendStatuses(b []byte, statuses []shardStatus) []byte {
	for _, st := range statuses {
		b = append(b, "<shard"...)
		b = xmlesc.Attr(b, "domain", st.Instance)
		b = xmlesc.Attr(b, "status", st.Status)
		if st.Reason != "" {
			b = xmlesc.Attr(b, "reason", st.Reason)
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
	s.live.start(s)
	if s.Shared != nil {
		s.Shared.start(s)
	}
	s.Link.OnUp(func() {
		s.live.linked()
		if s.Shared != nil {
			s.Shared.linked()
		}
	})
	s.Link.Start(s.Handle)
}
