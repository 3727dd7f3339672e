package hub

import (
	"testing"
	"time"
)

// Each of the shaper's limits holds on its own: stanzas of any kind, the
// messages among them, and bytes.
func TestShaperChargesStanzasMessagesAndBytes(t *testing.T) {
	lim := Limits{StanzaRate: 100, StanzaBurst: 100, MessageRate: 10, MessageBurst: 10, ByteRate: 1000, ByteBurst: 1000}
	now := time.Now()
	for _, c := range []struct {
		name                     string
		stanzas, messages, bytes int
		want                     time.Duration
	}{
		{"within every limit", 100, 10, 1000, 0},
		{"200 iqs: a second of stanzas", 200, 0, 1000, time.Second},
		{"30 messages: two seconds of messages", 30, 30, 1000, 2 * time.Second},
		{"4000 bytes: three seconds of bytes", 1, 0, 4000, 3 * time.Second},
	} {
		sh := newShaper(lim)
		if got := sh.delay(now, c.stanzas, c.messages, c.bytes); got < c.want-time.Millisecond || got > c.want+time.Millisecond {
			t.Errorf("%s: delay %v, want %v", c.name, got, c.want)
		}
	}
	sh := newShaper(Limits{StanzaRate: -1, MessageRate: -1, ByteRate: -1})
	if d := sh.delay(now, 1e6, 1e6, 1e9); d != 0 {
		t.Errorf("unlimited shaper: delay %v", d)
	}
}
