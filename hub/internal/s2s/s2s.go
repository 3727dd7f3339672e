// Package s2s is GeoHub's server-to-server federation (RFC 6120, XEP-0178,
// XEP-0288, XEP-0368): the listeners for other servers' streams (STARTTLS,
// or TLS from the first byte), outgoing streams to them found by DNS SRV,
// TLS required on both, peers
// authenticated by their certificate (SASL EXTERNAL), one stream per
// domain reused and closed when idle, stanzas queued while it comes up and
// bounced when it cannot. It checks that a peer only sends from the domain
// it authenticated as and only to the hub's domains; what the stanzas mean
// is the hub's business (Handler).
package s2s

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/geohub/geohub/hub/internal/wire"
)

// Config is what the federation service needs.
type Config struct {
	Domain string   // the hub's domain: the from of its streams
	Local  []string // other domains served here (the pubsub service), accepted as to
	// TLS holds the hub's certificate, presented both as a server and as a
	// client (XEP-0178).
	TLS *tls.Config
	// Roots verifies peers' certificates; nil means the system's.
	Roots *x509.CertPool
	// Hosts maps a domain to host:port, bypassing DNS (tests, private
	// networks).
	Hosts    map[string]string
	Resolver Resolver // nil means net.DefaultResolver
	// Dialback allows server dialback (XEP-0220) for peers whose
	// certificate does not verify (self-signed): their domain is then
	// proven through DNS and a connection back to it, not by a CA.
	Dialback bool
	// Allow, when not empty, is the only domains federated with; Deny is
	// refused whatever Allow says.
	Allow, Deny []string
	// ConnectTimeout bounds finding, connecting and authenticating a
	// stream; IdleTimeout closes a stream nothing crossed for that long.
	ConnectTimeout time.Duration
	IdleTimeout    time.Duration
	QueueBytes     int         // bytes queued per domain while its stream comes up
	MaxPending     int         // bytes waiting for a stream before the peer is cut off
	Limits         wire.Limits // per stanza, as for clients
	// Admit, when set, counts a connection another server opened against
	// the limits on connections, as for clients; an error refuses it.
	// release is called when the connection ends.
	Admit func(c net.Conn) (release func(), err error)
	// Pace, when set, gives each incoming stream a shaper: told what a
	// read brought, it says how long to pause reading.
	Pace   func() func(now time.Time, stanzas, messages, bytes int) time.Duration
	Logger *slog.Logger
}

// Handler is the hub's side of the federation.
type Handler interface {
	// Stream is called when a stream from peer starts reading; the
	// function it returns is given each stanza of that stream, its from
	// already checked to be at peer and its to at one of the hub's
	// domains. It runs on the stream's read goroutine, one stanza at a
	// time; el is valid only during the call.
	Stream(peer string) func(el *wire.Element)
	// Bounce gives back stanzas (one or more, as sent) that could not be
	// delivered to domain, with the stanza error condition to answer.
	Bounce(domain string, stanzas []byte, cond, text string)
}

// Service is the federation: listeners and the streams to each domain.
type Service struct {
	cfg Config
	h   Handler
	log *slog.Logger

	mu        sync.Mutex
	secret    []byte            // dialback keys (XEP-0185)
	routes    map[string]*route // by peer domain
	links     map[*link]struct{}
	listeners []net.Listener
	closed    bool
	wg        sync.WaitGroup
}

// Bounce conditions (RFC 6120 §8.3.3).
const (
	CondNotFound = "remote-server-not-found"
	CondTimeout  = "remote-server-timeout"
)

// New returns a federation service for cfg that hands stanzas to h.
func New(cfg Config, h Handler) (*Service, error) {
	if cfg.Domain == "" || cfg.TLS == nil {
		return nil, errors.New("s2s: a domain and a certificate are needed")
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 1 << 20
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 16 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	return &Service{cfg: cfg, h: h, log: cfg.Logger.With("part", "s2s"), secret: secret,
		routes: map[string]*route{}, links: map[*link]struct{}{}}, nil
}

// Allowed reports whether the service federates with domain.
func (s *Service) Allowed(domain string) bool {
	if slices.Contains(s.cfg.Deny, domain) || s.local(domain) {
		return false
	}
	return len(s.cfg.Allow) == 0 || slices.Contains(s.cfg.Allow, domain)
}

// local reports whether domain is served here.
func (s *Service) local(domain string) bool {
	return strings.EqualFold(domain, s.cfg.Domain) || slices.Contains(s.cfg.Local, domain)
}

// Serve accepts other servers' streams on ln until Close: STARTTLS
// (_xmpp-server._tcp).
func (s *Service) Serve(ln net.Listener) error { return s.serve(ln, false) }

// ServeDirectTLS accepts other servers' streams on ln until Close, TLS
// from the first byte (XEP-0368, _xmpps-server._tcp), with the ALPN
// protocol "xmpp-server".
func (s *Service) ServeDirectTLS(ln net.Listener) error { return s.serve(ln, true) }

func (s *Service) serve(ln net.Listener, directTLS bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if !s.track(nil, true) {
			c.Close()
			return net.ErrClosed
		}
		release := func() {}
		if s.cfg.Admit != nil {
			if release, err = s.cfg.Admit(c); err != nil {
				s.wg.Done()
				c.SetWriteDeadline(time.Now().Add(time.Second))
				c.Write([]byte(header(s.cfg.Domain, "", streamID()) + streamError{"policy-violation", err.Error()}.xml()))
				c.Close()
				s.log.Info("incoming stream refused", "addr", c.RemoteAddr(), "err", err)
				continue
			}
		}
		go func() {
			defer s.wg.Done()
			defer release()
			s.accept(c, directTLS)
		}()
	}
}

// track counts a goroutine that must end before Close returns and
// registers l (when not nil); it reports false once closed.
func (s *Service) track(l *link, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if l != nil {
		s.links[l] = struct{}{}
	}
	if add {
		s.wg.Add(1)
	}
	return true
}

// Close stops the listeners and closes every stream, waiting for their
// goroutines.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	lns := s.listeners
	links := make([]*link, 0, len(s.links))
	for l := range s.links {
		links = append(links, l)
	}
	s.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	for _, l := range links {
		l.close("")
	}
	s.wg.Wait()
	return nil
}
