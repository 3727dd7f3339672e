package component

import (
	"context"
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
)

// A device's trail and its sensor series are read from the peers the
// same way: pages oldest first, each asked after the last item's time.

// longRead bounds a trail's or a series' read from a peer, in timeouts:
// each page must come within the timeout, but a long range takes many
// pages (a device-day of fixes about 0.2 s on loopback).
const longRead = 10

// rangeQuestion is what a peer is asked of a device's items between
// from and to: kind names the question and its answer, extra attributes
// (name, value) narrow it.
type rangeQuestion struct {
	kind, viewer, device string
	extra                []string
	from, to             time.Time
}

// readByTime asks every peer for q's items, a page at a time (parse
// reads a page's answer, at tells an item's time) until a peer has no
// more or gave limit (0: no limit); a peer that did not answer in full
// gives none.
func readByTime[T any](s *Shard, q rangeQuestion, parse func(*xmlnode.Node) []T, at func(T) time.Time, limit int) ([][]T, []shardStatus) {
	parts := make([][]T, len(s.Peers))
	statuses := s.fanOut(longRead*s.Timeout, func(ctx context.Context, i int, peer string) shardStatus {
		var out []T
		st := s.pages(ctx, peer, func(b []byte, after string) []byte {
			return q.append(b, after)
		}, func(answer *xmlnode.Node) string {
			p := answer.Child(NSShard, q.kind)
			if p == nil {
				return ""
			}
			page := parse(p)
			out = append(out, page...)
			if p.Attr("more") != "true" || len(page) == 0 || limit > 0 && len(out) >= limit {
				return ""
			}
			return at(page[len(page)-1]).UTC().Format(time.RFC3339Nano)
		})
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		if st.Status == "ok" {
			parts[i] = out
		}
		return st
	})
	return parts, statuses
}

// append writes the question for the page after a time ("": the first).
func (q *rangeQuestion) append(b []byte, after string) []byte {
	b = append(b, "<"+q.kind+" xmlns='"+NSShard+"'"...)
	b = xmlesc.Attr(b, "for", q.viewer)
	b = xmlesc.Attr(b, "device", q.device)
	for i := 0; i+1 < len(q.extra); i += 2 {
		b = xmlesc.Attr(b, q.extra[i], q.extra[i+1])
	}
	b = xmlesc.Attr(b, "from", q.from.UTC().Format(time.RFC3339Nano))
	b = xmlesc.Attr(b, "to", q.to.UTC().Format(time.RFC3339Nano))
	if after != "" {
		b = xmlesc.Attr(b, "after", after)
	}
	return append(b, "/>"...)
}

// pageRange reads a page's question about a device: the range left
// after the previous page's last item, or what is wrong with it.
func pageRange(p *xmlnode.Node) (start, end time.Time, bad string) {
	start, err1 := time.Parse(time.RFC3339Nano, p.Attr("from"))
	end, err2 := time.Parse(time.RFC3339Nano, p.Attr("to"))
	if p.Attr("device") == "" || err1 != nil || err2 != nil {
		return start, end, "device, from and to are needed"
	}
	if a := p.Attr("after"); a != "" {
		after, err := time.Parse(time.RFC3339Nano, a)
		if err != nil {
			return start, end, "bad after"
		}
		if next := after.Add(time.Nanosecond); next.After(start) {
			start = next
		}
	}
	return start, end, ""
}
