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
	out  string
	done chan struct{}
}

// mosquittoBinary finds the broker: the Debian package puts it in /usr/sbin,
// which a user's PATH may lack.
func mosquittoBinary() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	return ""
}

// StartMosquitto runs a broker until the test ends. It requires the peer
// "mosquitto" (skipping or failing the test like Require).
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	Require(t, "mosquitto")
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	m := &Mosquitto{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: filepath.Join(dir, "mosquitto.out")}
	m.URL = "tcp://" + m.Addr
	conf := filepath.Join(dir, "mosquitto.conf")
	cfg := fmt.Sprintf("# A private broker for one of GeoHub's tests, written by internal/peers.\n"+
		"listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stdout\n", port)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(m.out)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	m.cmd = exec.Command(mosquittoBinary(), "-c", conf)
	m.cmd.Stdout, m.cmd.Stderr = out, out
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m.done = make(chan struct{})
	go func() { m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			<-m.done
		}
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", m.Output())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.Addr, time.Second)
		if err == nil {
			c.Close()
			return m
		}
		select {
		case <-m.done:
			t.Fatalf("mosquitto exited: %v\n%s", m.cmd.ProcessState, m.Output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not open %s within 30s\n%s", m.Addr, m.Output())
		}
	}
}

// Output returns what the broker printed so far.
func (m *Mosquitto) Output() string {
	b, _ := os.ReadFile(m.out)
	return string(b)
}
