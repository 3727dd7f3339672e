package hub

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Accept errors such as EMFILE (out of descriptors) pass when connections
// close, so a listener waits them out, as net/http's Server.Serve does,
// instead of ending and leaving the port dead while the process lives on.
const (
	acceptRetryMin = 5 * time.Millisecond
	acceptRetryMax = time.Second
	// acceptLogEvery rate-limits the log of accept errors, which come by
	// the thousand in a flood.
	acceptLogEvery = 10 * time.Second
	// acceptTrouble is how long after an accept error /readyz reports it.
	acceptTrouble = 10 * time.Second
)

// acceptHealth remembers the listeners' accept errors for Ready and the log.
type acceptHealth struct {
	mu         sync.Mutex
	last       time.Time // of the last error
	lastErr    error
	logged     time.Time
	unreported int // errors since the last log line
}

// accept serves ln until it is closed.
func (s *Server) accept(ln net.Listener, directTLS bool) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err == nil {
			delay = 0
			// Checked here, not on the connection's goroutine: a flood
			// must not pile up accepted descriptors faster than those
			// goroutines get to close them.
			if !s.limiter.take() {
				s.refuseOverCap(c, &negotiation{directTLS: directTLS})
				continue
			}
			s.wg.Go(func() { s.serve(c, &negotiation{srv: s, directTLS: directTLS, slot: true}) })
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		delay = min(max(2*delay, acceptRetryMin), acceptRetryMax)
		s.acceptFailed(ln, err, delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.quit:
			t.Stop()
			return
		}
	}
}

// acceptFailed counts an accept error and logs it, at most every
// acceptLogEvery.
func (s *Server) acceptFailed(ln net.Listener, err error, retry time.Duration) {
	s.stats.acceptErrors.Add(1)
	h := &s.acceptHealth
	now := time.Now()
	h.mu.Lock()
	h.last, h.lastErr = now, err
	h.unreported++
	n := h.unreported
	if now.Sub(h.logged) < acceptLogEvery {
		h.mu.Unlock()
		return
	}
	h.logged, h.unreported = now, 0
	h.mu.Unlock()
	s.log.Warn("cannot accept connections; retrying", "addr", ln.Addr().String(), "err", err,
		"retry_in", retry, "errors", n)
}

// Ready reports why the hub should not be sent new clients now: a listener
// failed to accept lately (typically out of file descriptors), or the
// connection cap is reached. nil means ready.
func (s *Server) Ready() error {
	h := &s.acceptHealth
	h.mu.Lock()
	last, err := h.last, h.lastErr
	h.mu.Unlock()
	if !last.IsZero() && time.Since(last) < acceptTrouble {
		return fmt.Errorf("XMPP listener cannot accept connections: %v", err)
	}
	if open, limit := s.limiter.open(); limit > 0 && open >= limit {
		return fmt.Errorf("XMPP connection cap reached: %d open", open)
	}
	return nil
}

var errOverCap = errors.New("the server is at its connection limit; try again later")

// refuseOverCap refuses a connection beyond Limits.MaxConns, before TLS:
// a TCP one at once, since its descriptor is what the cap saves, with a
// policy-violation stream error if the socket takes it without waiting (a
// direct TLS one without); a WebSocket or BOSH one with that stream error
// through its framing, as other refusals.
func (s *Server) refuseOverCap(c net.Conn, n *negotiation) {
	s.stats.overCap.Add(1)
	if now := time.Now().UnixNano(); s.overCapLogged.Load()+int64(acceptLogEvery) < now {
		s.overCapLogged.Store(now)
		s.log.Warn("connection refused: at the connection cap", "cap", s.cfg.Limits.MaxConns, "refused_so_far", s.stats.overCap.Load())
	}
	switch {
	case n.overHTTP:
		c.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(c, streamHeader(s.domain)+streamError("policy-violation", errOverCap.Error()))
		lingerClose(c)
		return
	case !n.directTLS:
		c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		io.WriteString(c, streamHeader(s.domain)+streamError("policy-violation", errOverCap.Error()))
	}
	c.Close()
}
