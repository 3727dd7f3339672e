package hub

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// emfileListener fails its first fails accepts with EMFILE, as a process out
// of descriptors does, then reports itself closed.
type emfileListener struct {
	mu    sync.Mutex
	fails int
	calls []time.Time
}

func (l *emfileListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, time.Now())
	if len(l.calls) <= l.fails {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return nil, net.ErrClosed
}

func (l *emfileListener) Close() error   { return nil }
func (l *emfileListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5222} }

// TestAcceptBacksOffOnEMFILE: a listener out of descriptors keeps trying,
// 5 ms doubling, counts every error, logs once per interval and tells
// Ready; it stops only once closed.
func TestAcceptBacksOffOnEMFILE(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil)), quit: make(chan struct{}), limiter: newLimiter(Limits{})}
	ln := &emfileListener{fails: 6}
	done := make(chan struct{})
	go func() { s.accept(ln, false); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the accept loop did not end once its listener was closed")
	}
	if len(ln.calls) != ln.fails+1 {
		t.Fatalf("Accept called %d times, want %d: the loop gave up on EMFILE", len(ln.calls), ln.fails+1)
	}
	for i := 1; i < len(ln.calls); i++ {
		want := min(acceptRetryMin<<(i-1), acceptRetryMax)
		if gap := ln.calls[i].Sub(ln.calls[i-1]); gap < want {
			t.Errorf("retry %d after %v, want at least %v", i, gap, want)
		}
	}
	if got := s.stats.acceptErrors.Load(); got != uint64(ln.fails) {
		t.Errorf("%d accept errors counted, want %d", got, ln.fails)
	}
	if n := strings.Count(logs.String(), "cannot accept connections"); n != 1 {
		t.Errorf("%d log lines for a burst of errors, want 1:\n%s", n, logs.String())
	}
	if err := s.Ready(); err == nil || !strings.Contains(err.Error(), "too many open files") {
		t.Errorf("Ready after accept errors: %v", err)
	}
}
