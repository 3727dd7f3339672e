package hub

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// limiter keeps per-address counters: open connections, a token bucket for
// new connections, and recent authentication failures.
type limiter struct {
	lim   Limits
	mu    sync.Mutex
	addrs map[netip.Addr]*addrState
	ops   int
	total atomic.Int64 // connections holding a slot (take), all addresses
}

type addrState struct {
	conns     int
	tokens    float64
	refilled  time.Time
	fails     int
	failSince time.Time
	authing   int // SASL exchanges started and not ended (authlimit.go)
}

var (
	errTooManyConns    = errors.New("too many connections from your address")
	errConnRate        = errors.New("connecting too fast from your address")
	errTooManyFailures = errors.New("too many failed logins from your address; try again later")
	errAuthsInFlight   = errors.New("failed logins and others in progress from your address; try again later")
)

// set replaces the limits, for what is admitted and judged from now on.
func (l *limiter) set(lim Limits) {
	l.mu.Lock()
	l.lim.MaxConnsPerIP, l.lim.ConnRate, l.lim.ConnBurst = lim.MaxConnsPerIP, lim.ConnRate, lim.ConnBurst
	l.lim.MaxAuthFailures, l.lim.AuthFailureWindow = lim.MaxAuthFailures, lim.AuthFailureWindow
	l.mu.Unlock()
}

func newLimiter(lim Limits) *limiter {
	return &limiter{lim: lim, addrs: map[netip.Addr]*addrState{}}
}

// key groups addresses: one IPv4 address, or one IPv6 /64, which is what a
// single host usually has to itself.
func key(ip netip.Addr) netip.Addr {
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// lockedOut reports whether ip has failed too many logins lately. It is
// checked at every attempt, not only when connecting, so that many parallel
// connections do not buy more guesses.
func (l *limiter) lockedOut(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.addrs[key(ip)]
	return a != nil && a.fails >= l.lim.MaxAuthFailures && time.Since(a.failSince) <= l.lim.AuthFailureWindow
}

// admit counts a new connection from ip, or says why it is refused.
func (l *limiter) admit(ip netip.Addr) error {
	ip = key(ip)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops++
	if l.ops%4096 == 0 {
		l.sweep(now)
	}
	a := l.addrs[ip]
	if a == nil {
		a = &addrState{tokens: float64(l.lim.ConnBurst), refilled: now}
		l.addrs[ip] = a
	}
	if a.fails > 0 && now.Sub(a.failSince) > l.lim.AuthFailureWindow {
		a.fails = 0
	}
	switch {
	case a.fails >= l.lim.MaxAuthFailures:
		return errTooManyFailures
	case a.fails > 0 && a.authing >= maxAuthsInFlight:
		// It would get temporary-auth-failure after a TLS handshake
		// (authlimit.go): refuse it before.
		return errAuthsInFlight
	case l.lim.MaxConnsPerIP > 0 && a.conns >= l.lim.MaxConnsPerIP:
		return errTooManyConns
	}
	if l.lim.ConnRate > 0 {
		a.tokens = min(float64(l.lim.ConnBurst), a.tokens+now.Sub(a.refilled).Seconds()*l.lim.ConnRate)
		a.refilled = now
		if a.tokens < 1 {
			return errConnRate
		}
		a.tokens--
	}
	a.conns++
	return nil
}

// take reserves a slot under Limits.MaxConns for a new connection, of any
// transport, before anything else is spent on it; false when none is left.
// The slot is given back by release, or by give if admit refuses.
func (l *limiter) take() bool {
	if n := l.total.Add(1); l.lim.MaxConns > 0 && n > int64(l.lim.MaxConns) {
		l.total.Add(-1)
		return false
	}
	return true
}

// give returns a slot that take reserved for a connection admit refused.
func (l *limiter) give() { l.total.Add(-1) }

// open returns the connections holding a slot and the cap (0: none).
func (l *limiter) open() (n, limit int) {
	return int(l.total.Load()), l.lim.MaxConns
}

// release forgets a connection counted by admit, and its slot.
func (l *limiter) release(ip netip.Addr) {
	ip = key(ip)
	l.total.Add(-1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.addrs[ip]; a != nil {
		a.conns--
		if a.conns <= 0 && a.fails == 0 && l.lim.ConnRate == 0 {
			delete(l.addrs, ip)
		}
	}
}

// failed counts a failed login of a and returns how long to wait before
// answering it: 100 ms doubling with each failure in the window, up to 5 s.
// l.mu is held.
func (l *limiter) failed(a *addrState, now time.Time) time.Duration {
	l.expire(a, now)
	if a.fails == 0 {
		a.failSince = now
	}
	a.fails++
	return min(100*time.Millisecond<<min(a.fails-1, 6), 5*time.Second)
}

// expire forgets a's failures once their window is over; l.mu is held.
func (l *limiter) expire(a *addrState, now time.Time) {
	if a.fails > 0 && now.Sub(a.failSince) > l.lim.AuthFailureWindow {
		a.fails = 0
	}
}

// state is the state of ip, a key, made if need be; l.mu is held.
func (l *limiter) state(ip netip.Addr) *addrState {
	a := l.addrs[ip]
	if a == nil {
		a = &addrState{tokens: float64(l.lim.ConnBurst), refilled: time.Now()}
		l.addrs[ip] = a
	}
	return a
}

// sweep drops state that no longer limits anything.
func (l *limiter) sweep(now time.Time) {
	for ip, a := range l.addrs {
		if a.conns > 0 {
			continue
		}
		failsOver := a.fails == 0 || now.Sub(a.failSince) > l.lim.AuthFailureWindow
		bucketFull := l.lim.ConnRate == 0 || now.Sub(a.refilled).Seconds()*l.lim.ConnRate >= float64(l.lim.ConnBurst)
		if failsOver && bucketFull {
			delete(l.addrs, ip)
		}
	}
}
