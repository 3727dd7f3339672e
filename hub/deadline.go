package hub

import (
	"context"
	"sync"
	"time"
)

// deadlines are the read and write deadlines of a net.Conn the hub builds
// on a message transport (wsConn, boshSession); embedded, they give it
// the net.Conn deadline methods.
type deadlines struct {
	rdl, wdl deadline
}

func (d *deadlines) SetDeadline(t time.Time) error {
	d.rdl.set(t)
	d.wdl.set(t)
	return nil
}

func (d *deadlines) SetReadDeadline(t time.Time) error  { d.rdl.set(t); return nil }
func (d *deadlines) SetWriteDeadline(t time.Time) error { d.wdl.set(t); return nil }

// deadline is a net.Conn deadline as a context that is cancelled when the
// time passes. Moving the deadline while a write waits moves the moment its
// context ends, as it would on a socket.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	ctx    context.Context
	cancel context.CancelFunc
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	stopped := d.timer == nil || d.timer.Stop()
	if !stopped || d.ctx == nil || d.ctx.Err() != nil {
		// A timer that fired (or is firing) cancels the old context
		// only.
		d.ctx, d.cancel = context.WithCancel(context.Background())
		d.timer = nil
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	switch {
	case dur <= 0:
		d.cancel()
	case d.timer != nil:
		d.timer.Reset(dur)
	default:
		d.timer = time.AfterFunc(dur, d.cancel)
	}
}

func (d *deadline) context() context.Context {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil {
		d.ctx, d.cancel = context.WithCancel(context.Background())
	}
	return d.ctx
}

func (d *deadline) expired() <-chan struct{} { return d.context().Done() }
