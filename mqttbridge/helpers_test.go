package mqttbridge_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/mqttbridge"
)

// waitFor polls cond until it holds, failing the test after 20s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// logBuffer collects the bridge's log for tests that read it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type env struct {
	hub    *hubtest.Hub
	broker *peers.Mosquitto
	bridge *mqttbridge.Bridge
	log    *logBuffer
}

// start runs a hub, a broker (with conf lines) and a bridge between them,
// connected and subscribed.
func start(t testing.TB, configure func(*mqttbridge.Config), conf ...string) *env {
	t.Helper()
	broker := peers.StartMosquitto(t, conf...)
	h := hubtest.Start(t)
	e := &env{hub: h, broker: broker}
	e.bridge, e.log = startBridge(t, h, broker, configure)
	return e
}

func startBridge(t testing.TB, h *hubtest.Hub, broker *peers.Mosquitto, configure func(*mqttbridge.Config)) (*mqttbridge.Bridge, *logBuffer) {
	t.Helper()
	return startHooked(t, h, broker, configure, mqttbridge.Hooks{})
}

// startHooked is startBridge with hooks into the bridge's calls to the
// hub and the account store.
func startHooked(t testing.TB, h *hubtest.Hub, broker *peers.Mosquitto, configure func(*mqttbridge.Config), hooks mqttbridge.Hooks) (*mqttbridge.Bridge, *logBuffer) {
	t.Helper()
	cfg := mqttbridge.DefaultConfig()
	cfg.Brokers = []string{broker.URL}
	cfg.ClientID = "geohub-test"
	if configure != nil {
		configure(&cfg)
	}
	log := &logBuffer{}
	b, err := mqttbridge.NewHooked(cfg, mqttbridge.Deps{Hub: h.Server, Accounts: h.Accounts, Geo: h.Geo,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}, hooks)
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	t.Cleanup(func() {
		b.Close()
		if t.Failed() {
			t.Logf("bridge log:\n%s", log)
		}
	})
	waitFor(t, "the bridge to connect", func() bool { return b.Stats().Brokers[0].Connected })
	return b, log
}

func hostPort(addr string) (string, string) {
	h, p, _ := net.SplitHostPort(addr)
	return h, p
}

// pub publishes one message with mosquitto_pub, QoS 1.
func pub(t testing.TB, m *peers.Mosquitto, topic, payload string, extra ...string) {
	t.Helper()
	host, port := hostPort(m.Addr)
	args := append([]string{"-h", host, "-p", port, "-q", "1", "-t", topic, "-m", payload}, extra...)
	if out, err := exec.Command("mosquitto_pub", args...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub %s: %v\n%s", topic, err, out)
	}
}

// received is one message mosquitto_sub printed.
type received struct {
	Topic   string
	Payload string
}

// JSON decodes the payload.
func (r received) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Payload), &m); err != nil {
		t.Fatalf("%s: %q is not JSON: %v", r.Topic, r.Payload, err)
	}
	return m
}

// subscriber is a mosquitto_sub process.
type subscriber struct {
	t   testing.TB
	in  chan received
	got []received
}

// sub starts mosquitto_sub on filters and returns once the broker has
// acknowledged the subscription.
func sub(t testing.TB, m *peers.Mosquitto, filters ...string) *subscriber {
	t.Helper()
	host, port := hostPort(m.Addr)
	args := []string{"-h", host, "-p", port, "-q", "1", "-v", "-d"}
	for _, f := range filters {
		args = append(args, "-t", f)
	}
	// Line-buffered: -d prints the SUBACK without flushing it.
	cmd := exec.Command("stdbuf", append([]string{"-oL", "mosquitto_sub"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); cmd.Wait() })
	s := &subscriber{t: t, in: make(chan received, 10000)}
	subscribed := make(chan struct{})
	go func() {
		defer close(s.in)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "Client ") { // -d: the protocol, not a message
				if strings.Contains(line, "received SUBACK") {
					once.Do(func() { close(subscribed) })
				}
				continue
			}
			topic, payload, _ := strings.Cut(line, " ")
			s.in <- received{topic, payload}
		}
	}()
	select {
	case <-subscribed:
	case <-time.After(20 * time.Second):
		t.Fatal("mosquitto_sub did not subscribe within 20s")
	}
	return s
}

// next returns the next message whose topic is topic and for which match
// (if not nil) holds; others are kept for later calls.
func (s *subscriber) next(topic string, match func(received) bool) received {
	s.t.Helper()
	ok := func(r received) bool { return r.Topic == topic && (match == nil || match(r)) }
	for i, r := range s.got {
		if ok(r) {
			s.got = append(s.got[:i:i], s.got[i+1:]...)
			return r
		}
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case r, open := <-s.in:
			if !open {
				s.t.Fatalf("mosquitto_sub ended waiting for %s", topic)
			}
			if ok(r) {
				return r
			}
			s.got = append(s.got, r)
		case <-deadline:
			s.t.Fatalf("no message on %s within 20s; got %v", topic, s.got)
		}
	}
}
