package hub

import (
	"time"

	"golang.org/x/time/rate"
)

// shaper slows a session that sends faster than its limits: its read loop
// pauses until the stanzas and bytes it read are paid for, so TCP pushes
// back on the sender and its recipients never pay for its pace (ejabberd's
// shapers and Prosody's mod_limits work the same way). A nil limiter is
// unlimited.
type shaper struct {
	stanzas  *rate.Limiter
	messages *rate.Limiter
	bytes    *rate.Limiter
	slowed   bool // logged once per session
}

// maxPauseStep bounds one sleep of a paused read loop, so that a session
// closed meanwhile ends promptly.
const maxPauseStep = 250 * time.Millisecond

func newShaper(l Limits) shaper {
	var sh shaper
	if l.StanzaRate > 0 {
		sh.stanzas = rate.NewLimiter(rate.Limit(l.StanzaRate), l.StanzaBurst)
	}
	if l.MessageRate > 0 {
		sh.messages = rate.NewLimiter(rate.Limit(l.MessageRate), l.MessageBurst)
	}
	if l.ByteRate > 0 {
		sh.bytes = rate.NewLimiter(rate.Limit(l.ByteRate), l.ByteBurst)
	}
	return sh
}

// delay charges k stanzas, m of them messages, and n bytes read at now and
// returns how long the reader must wait before reading more. Within the
// limits it does not allocate.
func (sh *shaper) delay(now time.Time, k, m, n int) time.Duration {
	return max(charge(sh.stanzas, now, k), charge(sh.messages, now, m), charge(sh.bytes, now, n))
}

// charge takes n tokens from lim, on credit when there are too few, and
// returns the wait until the credit is paid back.
func charge(lim *rate.Limiter, now time.Time, n int) time.Duration {
	if lim == nil || n == 0 || lim.AllowN(now, n) {
		return 0
	}
	var d time.Duration
	for n > 0 {
		c := min(n, lim.Burst())
		d = lim.ReserveN(now, c).DelayFrom(now)
		n -= c
	}
	return d
}

// pauseReads waits d before the session reads on, or until it is closed.
func (ss *session) pauseReads(d time.Duration) {
	s := ss.srv
	s.stats.paused.Add(1)
	if !ss.shaper.slowed {
		ss.shaper.slowed = true
		s.log.Info("session slowed: it sends faster than its limits", "jid", ss.full,
			"stanza_rate", s.cfg.Limits.StanzaRate, "message_rate", s.cfg.Limits.MessageRate, "byte_rate", s.cfg.Limits.ByteRate)
	}
	for end := time.Now().Add(d); d > 0 && !ss.isClosed(); d = time.Until(end) {
		time.Sleep(min(d, maxPauseStep))
	}
}
