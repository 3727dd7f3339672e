// Package component attaches GeoHub to another XMPP server (Prosody,
// ejabberd) as an XEP-0114 external component: a second front door to the
// same application as the hub's own listeners. The upstream server holds
// the users' connections; GeoHub serves at the component's domain the
// pubsub service devices publish to, the chat commands, and sends alerts
// from there (hub/upstream.go).
package component

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
)

// Config is what a link needs.
type Config struct {
	Domain   string // the component's domain, such as geo.example.com
	Upstream string // host:port of the server's component listener
	Secret   string // the shared secret of XEP-0114's handshake
	Logger   *slog.Logger
	// MaxStanza bounds one element from the upstream; 0: 1 MiB.
	MaxStanza int
	// MaxQueued bounds the bytes waiting to be written to the upstream;
	// beyond it stanzas are dropped and counted. 0: 64 MiB.
	MaxQueued int
	// MinBackoff and MaxBackoff bound the wait between connection
	// attempts, doubled after each failure, with jitter; 0: 500 ms, 30 s.
	MinBackoff, MaxBackoff time.Duration
}

// Link is the component's connection to the upstream, made again whenever
// it drops.
type Link struct {
	cfg     Config
	log     *slog.Logger
	handle  func(stanza []byte) // each element the upstream sends
	onUp    func()              // after each handshake
	stop    context.CancelFunc
	done    chan struct{}
	up      atomic.Bool
	lastErr atomic.Value // string: why the link is down

	mu      sync.Mutex
	queue   [][]byte
	queued  int
	wake    chan struct{} // a write is waiting
	conn    net.Conn      // the current connection; nil while down
	dropped atomic.Uint64 // stanzas not sent: the link was down or its queue full
}

// New makes a link; Start connects it.
func New(cfg Config) *Link {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxStanza <= 0 {
		cfg.MaxStanza = 1 << 20
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 64 << 20
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	l := &Link{cfg: cfg, log: cfg.Logger.With("component", cfg.Domain, "upstream", cfg.Upstream),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.lastErr.Store("not connected yet")
	return l
}

// Domain is the component's domain (hub.Upstream).
func (l *Link) Domain() string { return l.cfg.Domain }

// OnUp sets a function run (on a goroutine of its own) each time the link
// comes up. Call it before Start.
func (l *Link) OnUp(f func()) { l.onUp = f }

// Start connects, and reconnects until Close; handle gets every element
// the upstream sends, one at a time on the link's reading goroutine (the
// slice is valid only during the call).
func (l *Link) Start(handle func(stanza []byte)) {
	l.handle = handle
	ctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	go l.run(ctx)
}

// Close ends the link and stops reconnecting.
func (l *Link) Close() {
	if l.stop == nil {
		return
	}
	l.stop()
	<-l.done
}

// Ready says whether the link is up, for /readyz.
func (l *Link) Ready() error {
	if l.up.Load() {
		return nil
	}
	return fmt.Errorf("component link to %s down: %s", l.cfg.Upstream, l.lastErr.Load())
}

// Send queues one stanza for the upstream (hub.Upstream). It does not
// wait: while the link is down, or too much waits already, the stanza is
// dropped and counted, and Send reports false.
func (l *Link) Send(stanza []byte) bool {
	l.mu.Lock()
	if l.conn == nil || l.queued+len(stanza) > l.cfg.MaxQueued {
		l.mu.Unlock()
		l.dropped.Add(1)
		return false
	}
	l.queue = append(l.queue, stanza)
	l.queued += len(stanza)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// run connects and serves until ctx ends, waiting longer after each
// failure: the backoff doubles from MinBackoff to MaxBackoff, each wait
// drawn between half and all of it, so that many instances restarted
// together do not knock at once. A link that was up starts again from
// MinBackoff.
func (l *Link) run(ctx context.Context) {
	defer close(l.done)
	backoff := l.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		l.log.Info("connecting to the upstream", "attempt", attempt)
		wasUp, err := l.serve(ctx)
		if ctx.Err() != nil {
			return
		}
		l.lastErr.Store(err.Error())
		if wasUp {
			backoff, attempt = l.cfg.MinBackoff, 0
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		l.log.Warn("component link down", "err", err, "retry_in", wait.Round(time.Millisecond), "dropped_so_far", l.dropped.Load())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, l.cfg.MaxBackoff)
	}
}

// serve makes one connection and serves it until it fails; wasUp says
// whether the handshake succeeded.
func (l *Link) serve(ctx context.Context) (wasUp bool, err error) {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	c, err := d.DialContext(ctx, "tcp", l.cfg.Upstream)
	if err != nil {
		return false, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	sc := newScanner(c, l.cfg.MaxStanza)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := l.handshake(c, sc); err != nil {
		return false, err
	}
	c.SetDeadline(time.Time{})
	l.mu.Lock()
	l.conn, l.queue, l.queued = c, nil, 0
	l.mu.Unlock()
	l.up.Store(true)
	l.log.Info("component link up")
	if l.onUp != nil {
		go l.onUp()
	}
	writerDone := make(chan struct{})
	go l.write(c, writerDone)
	defer func() {
		l.up.Store(false)
		l.mu.Lock()
		l.conn, l.queue, l.queued = nil, nil, 0
		l.mu.Unlock()
		c.Close()
		select { // the writer may be waiting for work
		case l.wake <- struct{}{}:
		default:
		}
		<-writerDone
	}()
	for {
		el, err := sc.next()
		if err != nil {
			return true, err
		}
		if isStreamError(el) {
			return true, fmt.Errorf("stream error from the upstream: %.300s", el)
		}
		l.handle(el)
	}
}

var idAttr = regexp.MustCompile(`\sid=(?:'([^']*)'|"([^"]*)")`)

// handshake opens the stream and authenticates with the secret
// (XEP-0114 §3): SHA-1 of the stream ID the server chose and the secret.
func (l *Link) handshake(c net.Conn, sc *scanner) error {
	open := xmlesc.Attr([]byte("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'"),
		"to", l.cfg.Domain)
	if _, err := c.Write(append(open, '>')); err != nil {
		return err
	}
	head, err := sc.header()
	if err != nil {
		return fmt.Errorf("reading the upstream's stream header: %w", err)
	}
	m := idAttr.FindSubmatch(head)
	if m == nil {
		el, _ := sc.next()
		return fmt.Errorf("the upstream's stream has no id: %.300s", el)
	}
	id := string(m[1]) + string(m[2])
	sum := sha1.Sum([]byte(id + l.cfg.Secret))
	if _, err := c.Write([]byte("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>")); err != nil {
		return err
	}
	el, err := sc.next()
	if err != nil {
		return fmt.Errorf("waiting for the handshake: %w", err)
	}
	if !isHandshake(el) {
		return fmt.Errorf("the upstream refused the handshake: %.300s", el)
	}
	return nil
}

func isHandshake(el []byte) bool {
	return len(el) >= 11 && string(el[:10]) == "<handshake" && (el[10] == '/' || el[10] == '>' || el[10] == ' ')
}

func isStreamError(el []byte) bool {
	return len(el) > 14 && string(el[:14]) == "<stream:error>"
}

// write writes what Send queued, everything waiting in one write, until
// the connection fails or is closed.
func (l *Link) write(c net.Conn, done chan struct{}) {
	defer close(done)
	var buf []byte
	for {
		l.mu.Lock()
		if l.conn != c {
			l.mu.Unlock()
			return
		}
		q := l.queue
		l.queue, l.queued = nil, 0
		l.mu.Unlock()
		if len(q) == 0 {
			<-l.wake
			continue
		}
		buf = buf[:0]
		for _, s := range q {
			buf = append(buf, s...)
		}
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return
		}
	}
}
