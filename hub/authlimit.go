package hub

import (
	"net/netip"
	"time"
)

// Password guessing is limited per address by the proofs judged, not by the
// exchanges begun: MaxAuthFailures wrong proofs per AuthFailureWindow,
// however many connections ask at once. Every proof is checked, so that
// the answer takes as long either way, and then judged under one lock:
// counted if the budget allows, refused unseen if not. So 200 connections
// that all send a SCRAM client-first and then a client-final learn the
// outcome of MaxAuthFailures guesses, not of 200.

// maxAuthsInFlight bounds the SASL exchanges open at once from an address
// that has failed a login in the window; others get temporary-auth-failure.
// An address with a clean record (a fleet behind one NAT, a load test) is
// not held back.
const maxAuthsInFlight = 4

// judge decides a checked proof from ip: accepted when right and the
// address is not locked out. A refusal is to be answered after the delay
// returned; checked says whether the proof's outcome counted (false: the
// address was locked out, and the proof was not looked at).
func (l *limiter) judge(ip netip.Addr, right bool) (accepted, checked bool, delay time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.state(key(ip))
	l.expire(a, now)
	checked = a.fails < l.lim.MaxAuthFailures
	if checked && right {
		return true, true, 0
	}
	return false, checked, l.failed(a, now)
}

// startAuth counts a SASL exchange from ip, or reports false when the
// address has failed lately and has maxAuthsInFlight exchanges open.
func (l *limiter) startAuth(ip netip.Addr) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.state(key(ip))
	l.expire(a, now)
	if a.fails > 0 && a.authing >= maxAuthsInFlight {
		return false
	}
	a.authing++
	return true
}

// endAuth ends an exchange counted by startAuth.
func (l *limiter) endAuth(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.addrs[key(ip)]; a != nil && a.authing > 0 {
		a.authing--
	}
}
