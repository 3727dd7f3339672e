package peers

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Mosquitto is a private MQTT broker started for one test: anonymous, on
// one loopback port, keeping nothing on disk.
type Mosquitto struct {
	Addr string // 127.0.0.1:port
	URL  string // tcp://127.0.0.1:port, for paho

	cmd  *exec.Cmd
	conf string
	out  string
	done chan struct{}
}

// StartMosquitto runs a broker until the test ends. It requires the peer
// "mosquitto" (skipping or failing the test like Require). conf lines are
// added to its configuration after the defaults (a later line wins), such as
// "persistence true", which keeps sessions and queued messages across
// Restart in the test's folder, or "max_inflight_messages 1000".
func StartMosquitto(t testing.TB, conf ...string) *Mosquitto {
	t.Helper()
	Require(t, "mosquitto")
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	m := &Mosquitto{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: filepath.Join(dir, "mosquitto.out")}
	m.URL = "tcp://" + m.Addr
	m.conf = filepath.Join(dir, "mosquitto.conf")
	cfg := fmt.Sprintf("# A private broker for one of GeoHub's tests, written by internal/peers.\n"+
		"listener %d 127.0.0.1\nallow_anonymous true\npersistence false\npersistence_location %s/\nlog_dest stdout\n", port, dir)
	if os.Geteuid() == 0 {
		// As root, mosquitto switches to the user mosquitto, which cannot
		// write its persistence file into the test's folder.
		cfg += "user root\n"
	}
	for _, l := range conf {
		cfg += l + "\n"
	}
	if err := os.WriteFile(m.conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", m.Output())
		}
	})
	m.start(t)
	return m
}

// Restart stops the broker by its PID with SIGTERM (a broker with
// "persistence true" saves its sessions and queued messages then) and
// starts it again on the same port with the same configuration, as a
// restart of the service would.
func (m *Mosquitto) Restart(t testing.TB) {
	t.Helper()
	m.stop()
	m.start(t)
}

// stop ends the broker, forcefully if it takes more than 10s.
func (m *Mosquitto) stop() {
	if m.cmd == nil {
		return
	}
	syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.done
	}
	m.cmd = nil
}

// start runs the broker and waits until it accepts connections.
func (m *Mosquitto) start(t testing.TB) {
	t.Helper()
	out, err := os.OpenFile(m.out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(sbinBinary("mosquitto"), "-c", m.conf)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	m.cmd, m.done = cmd, done
	go func() { cmd.Wait(); close(done) }()
	if err := waitListening(m.Addr, done); err != nil {
		t.Fatalf("%v\n%s", err, m.Output())
	}
}

// Output returns what the broker printed so far.
func (m *Mosquitto) Output() string {
	b, _ := os.ReadFile(m.out)
	return string(b)
}
