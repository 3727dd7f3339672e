package hub

import (
	"net"
	"slices"
	"testing"
)

// writesConn records each write and reads from a fixed input.
type writesConn struct {
	net.Conn
	writes []string
	in     []byte
}

func (c *writesConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, string(p))
	return len(p), nil
}
func (c *writesConn) Read(p []byte) (int, error) { n := copy(p, c.in); c.in = c.in[n:]; return n, nil }
func (c *writesConn) Close() error               { return nil }

// The hub's stream header goes out with the features that follow it, in
// one write; a read or a close never leaves it behind; over WebSocket
// (no coalescing) every write goes out as it is.
func TestNegConnSendsTheHeaderWithTheFeatures(t *testing.T) {
	const header, features = "<?xml version='1.0'?><stream:stream>", "<stream:features/>"
	raw := &writesConn{in: []byte("<auth/>")}
	c := newNegConn(raw, 1<<16, true)
	c.Write([]byte(header))
	if len(raw.writes) != 0 {
		t.Fatalf("the header went out alone: %q", raw.writes)
	}
	if n, err := c.Write([]byte(features)); n != len(features) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if want := []string{header + features}; !slices.Equal(raw.writes, want) {
		t.Errorf("writes %q, want %q", raw.writes, want)
	}

	raw.writes = nil
	c.Write([]byte(header))
	if _, err := c.ReadByte(); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte(header))
	c.Close()
	if want := []string{header, header}; !slices.Equal(raw.writes, want) {
		t.Errorf("a read and a close: writes %q, want %q", raw.writes, want)
	}

	raw.writes = nil
	c.Write([]byte(header + "<stream:error/></stream:stream>"))
	if len(raw.writes) != 1 {
		t.Errorf("a header with an error was held")
	}

	raw = &writesConn{}
	ws := newNegConn(raw, 1<<16, false)
	ws.Write([]byte(header))
	ws.Write([]byte(features))
	if want := []string{header, features}; !slices.Equal(raw.writes, want) {
		t.Errorf("not coalescing: writes %q, want %q", raw.writes, want)
	}
}
