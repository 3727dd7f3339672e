// Package servetest runs the geohub binary's serve command for tests, as a
// user runs it: on loopback ports the kernel picks, its addresses read from
// its JSON log, stopped by its PID.
package servetest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Hub is a running geohub serve.
type Hub struct {
	C2S, C2STLS, HTTP string // listening addresses; "" when that listener is off

	cmd  *exec.Cmd
	done chan error // the process's exit, once

	mu  sync.Mutex
	log []string // every line the hub logged
}

// Signal sends sig to the hub.
func (h *Hub) Signal(sig os.Signal) error { return h.cmd.Process.Signal(sig) }

// WaitForLog waits up to 20 s for a log line that holds every one of
// parts, and returns it.
func (h *Hub) WaitForLog(t testing.TB, parts ...string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		h.mu.Lock()
		for _, line := range h.log {
			if containsAll(line, parts) {
				h.mu.Unlock()
				return line
			}
		}
		h.mu.Unlock()
	}
	t.Fatalf("geohub logged no line with %q", parts)
	return ""
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// Start runs `bin serve --data data` with every listener on 127.0.0.1:0,
// JSON logs and no street tiles (a browser test's page asks nothing of
// anyone but the hub; unless extra gives --config, which then decides),
// then extra (a later flag wins: "--c2s-tls", "" turns direct
// TLS off), and returns once the hub logs that it is ready. The process is
// killed when the test ends if it still runs.
func Start(t testing.TB, bin, data string, extra ...string) *Hub {
	t.Helper()
	args := []string{"serve", "--data", data, "--c2s", "127.0.0.1:0", "--c2s-tls", "127.0.0.1:0",
		"--http", "127.0.0.1:0", "--log-format", "json"}
	if !slices.Contains(extra, "--config") {
		args = append(args, "--map-tiles", "off")
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &Hub{cmd: cmd, done: make(chan error, 1)}
	t.Cleanup(func() { h.Kill() })
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		h.log = append(h.log, lines.Text())
		var rec struct {
			Msg, Addr, Service string
			DirectTLS          bool `json:"direct_tls"`
		}
		json.Unmarshal(lines.Bytes(), &rec)
		switch {
		case rec.Msg == "listening" && rec.Service == "http":
			h.HTTP = rec.Addr
		case rec.Msg == "listening" && rec.DirectTLS:
			h.C2STLS = rec.Addr
		case rec.Msg == "listening":
			h.C2S = rec.Addr
		case rec.Msg == "geohub ready":
			go func() {
				for lines.Scan() {
					h.mu.Lock()
					h.log = append(h.log, lines.Text())
					h.mu.Unlock()
				}
				io.Copy(io.Discard, stderr)
				h.done <- cmd.Wait()
				close(h.done)
			}()
			return h
		}
	}
	err = cmd.Wait()
	close(h.done)
	t.Fatalf("geohub serve ended before it was ready: %v\n%s", err, strings.Join(h.log, "\n"))
	return nil
}

// Stop asks the hub to shut down (SIGTERM) and returns how it exited; an
// error also when it does not exit within 20 s (it is killed then).
func (h *Hub) Stop() error {
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-h.done:
		return err
	case <-time.After(20 * time.Second):
		h.Kill()
		return fmt.Errorf("geohub serve did not stop within 20s of SIGTERM")
	}
}

// PID is the process id of the hub.
func (h *Hub) PID() int { return h.cmd.Process.Pid }

// Kill ends the hub at once, as a crash would, and waits for it.
func (h *Hub) Kill() {
	h.cmd.Process.Kill()
	<-h.done
}
