package s2s

import (
	"context"
	"errors"
	"time"
)

// route is the way to one peer domain: its stream, or the stanzas waiting
// for it to come up.
type route struct {
	link    *link
	queue   []byte
	dialing bool
}

// Send queues stanzas (complete, addressed, from the hub's domain) for
// domain: on its stream if one is up, else after opening one. What
// cannot be delivered comes back through Handler.Bounce.
func (s *Service) Send(domain string, stanzas []byte) {
	if !s.Allowed(domain) {
		s.h.Bounce(domain, stanzas, CondNotFound, "this server does not federate with "+domain)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.h.Bounce(domain, stanzas, CondNotFound, "the server is shutting down")
		return
	}
	r := s.routes[domain]
	if r != nil && r.link != nil {
		l := r.link
		s.mu.Unlock()
		if l.send(stanzas) {
			return
		}
		s.mu.Lock()
		r = s.routes[domain]
	}
	if r == nil || r.link != nil {
		r = &route{}
		s.routes[domain] = r
	}
	if len(r.queue)+len(stanzas) > s.cfg.QueueBytes {
		s.mu.Unlock()
		s.h.Bounce(domain, stanzas, CondTimeout, "too much is waiting for the stream to "+domain)
		return
	}
	r.queue = append(r.queue, stanzas...)
	start := !r.dialing
	r.dialing = true
	if start {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if start {
		go s.connect(domain, r)
	}
}

// connect opens the stream of route r to domain and sends what waits, or
// bounces it.
func (s *Service) connect(domain string, r *route) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ConnectTimeout)
	start := time.Now()
	l, err := s.dialDomain(ctx, domain)
	cancel()
	s.mu.Lock()
	queued := r.queue
	r.queue, r.dialing = nil, false
	if err == nil && !s.closed {
		r.link = l
		s.links[l] = struct{}{}
		s.wg.Add(1)
	} else if s.routes[domain] == r {
		delete(s.routes, domain)
	}
	closed := s.closed
	s.mu.Unlock()
	if err != nil || closed {
		if l != nil {
			l.conn.Close()
		}
		cond := CondNotFound
		if errors.Is(err, context.DeadlineExceeded) {
			cond = CondTimeout
		}
		s.log.Info("no stream to peer", "peer", domain, "err", err)
		s.h.Bounce(domain, queued, cond, "cannot reach "+domain)
		return
	}
	s.log.Info("stream to peer up", "peer", domain, "took", time.Since(start))
	l.send(queued)
	go func() {
		defer s.wg.Done()
		l.run()
	}()
}

// adopt makes an incoming bidirectional stream the route to its peer
// when there is none.
func (s *Service) adopt(l *link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.routes[l.peer]; r == nil {
		s.routes[l.peer] = &route{link: l}
	}
}

// unroute forgets a closing link as its peer's route.
func (s *Service) unroute(l *link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.routes[l.peer]; r != nil && r.link == l {
		delete(s.routes, l.peer)
	}
}
