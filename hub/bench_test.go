package hub_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/scram"
	"github.com/geohub/geohub/internal/xmpptest"
)

// Benchmarks over loopback TLS with the clients in the same process. The
// clients of the routing benchmark write pre-built stanzas and count bytes,
// so nearly all CPU and every allocation measured are the hub's.

// BenchmarkRouteMessage measures messages routed client -> hub -> client
// between full JIDs, with four senders at once, each writing one stanza per
// write (batch=1) or 32 (a client that pipelines).
func BenchmarkRouteMessage(b *testing.B) {
	for _, batch := range []int64{1, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchRoute(b, batch) })
	}
}

func benchRoute(b *testing.B, batch int64, configure ...func(*hub.Config)) {
	h := hubtest.Start(b, append(configure, unshaped)...)
	const pairs, window = 4, 2048
	type pair struct {
		send, recv net.Conn
		msg        []byte
		got        atomic.Int64
		progress   chan struct{}
	}
	ps := make([]*pair, pairs)
	for i := range ps {
		p := &pair{progress: make(chan struct{}, 1)}
		spw := h.Account(b, fmt.Sprintf("s%d", i), devices.RoleDevice)
		rpw := h.Account(b, fmt.Sprintf("r%d", i), devices.RoleOperator)
		s := xmpptest.DialRaw(b, h.Addr)
		s.Login("localhost", h.ClientTLS, fmt.Sprintf("s%d", i), spw, "gps")
		r := xmpptest.DialRaw(b, h.Addr)
		to := r.Login("localhost", h.ClientTLS, fmt.Sprintf("r%d", i), rpw, "desk")
		p.send, p.recv = s.Conn(), r.Conn()
		p.msg = []byte("<message to='" + to + "' type='chat' id='m'><body>52.5200,13.4050 42km/h</body></message>")
		ps[i] = p
	}
	end := []byte("</message>")
	// Check once, outside the timing, that what arrives is the stamped
	// message.
	ps[0].send.Write(ps[0].msg)
	first := make([]byte, 4096)
	n, _ := ps[0].recv.Read(first)
	if !bytes.Contains(first[:n], []byte("from='s0@localhost/gps'")) || !bytes.Contains(first[:n], []byte("42km/h")) {
		b.Fatalf("routed message: %q", first[:n])
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, p := range ps {
		n := int64(b.N / pairs)
		if i == 0 {
			n += int64(b.N % pairs)
		}
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			carry := 0
			for p.got.Load() < n {
				m, err := p.recv.Read(buf[carry:])
				if err != nil {
					b.Error(err)
					return
				}
				data := buf[:carry+m]
				p.got.Add(int64(bytes.Count(data, end)))
				carry = copy(buf, data[max(0, len(data)-len(end)+1):])
				select {
				case p.progress <- struct{}{}:
				default:
				}
			}
		})
		wg.Go(func() {
			out := bytes.Repeat(p.msg, int(batch))
			for sent := int64(0); sent < n; {
				for sent-p.got.Load() > window {
					<-p.progress
				}
				k := min(batch, n-sent)
				if _, err := p.send.Write(out[:int(k)*len(p.msg)]); err != nil {
					b.Error(err)
					return
				}
				sent += k
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkLogin measures full logins: TCP connect, STARTTLS, SCRAM-SHA-256,
// bind and initial presence, answered. The client keeps its salted password
// between logins as long-lived clients do, so PBKDF2 is not counted; TLS
// handshakes are, on both sides.
func BenchmarkLogin(b *testing.B) {
	h := hubtest.Start(b)
	pw := h.Account(b, "car", devices.RoleDevice)
	o := h.Options()
	o.Mechanism = scram.ClientMechanism(scram.SHA256, &scram.SaltCache{})
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := xmpptest.Dial(b, o, "car", pw)
			c.Send("<presence/>")
			self := c.JID.String()
			c.WaitFor("own presence", func(n *xmpptest.Node) bool { return n.Name() == "presence" && n.Attr("from") == self })
			c.Conn().Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkIdleSessionMemory measures what an idle authenticated TLS session
// costs the hub. The clients run in a child process so that only the hub's
// memory is counted: heap and stacks in use, and resident size.
func BenchmarkIdleSessionMemory(b *testing.B) {
	const sessions = 5000
	h := hubtest.Start(b)
	const pw = "idle-device-password"
	reqs := make([]devices.NewAccount, sessions)
	for i := range reqs {
		reqs[i] = devices.NewAccount{Name: fmt.Sprintf("idle%d", i), Role: devices.RoleDevice, Password: pw}
	}
	if _, err := h.Accounts.Add(reqs...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		before := memory()
		child := exec.Command(os.Args[0], "-test.run=^TestIdleClients$", "-test.v")
		child.Env = append(os.Environ(), "GEOHUB_IDLE_CLIENTS="+strings.Join([]string{
			strconv.Itoa(sessions), h.Addr, pw, h.CertFile}, ","))
		stdout, _ := child.StdoutPipe()
		stdin, _ := child.StdinPipe()
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && !strings.Contains(sc.Text(), "IDLE CLIENTS READY") {
		}
		if h.Sessions() != sessions {
			b.Fatalf("%d sessions bound, want %d", h.Sessions(), sessions)
		}
		after := memory()
		b.ReportMetric(float64(after.heapStack-before.heapStack)/sessions, "heap+stack-B/session")
		b.ReportMetric(float64(after.rss-before.rss)/sessions, "rss-B/session")
		stdin.Close()
		child.Wait()
		for h.Sessions() > 0 {
			time.Sleep(10 * time.Millisecond) // waiting for the hub to notice, outside any assertion
		}
	}
}

type memSample struct{ heapStack, rss uint64 }

func memory() memSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{heapStack: ms.HeapInuse + ms.StackInuse}
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			s.rss = kb << 10
		}
	}
	return s
}

// TestIdleClients is the child process of BenchmarkIdleSessionMemory; it
// does nothing in a normal test run.
func TestIdleClients(t *testing.T) {
	spec := os.Getenv("GEOHUB_IDLE_CLIENTS")
	if spec == "" {
		return
	}
	f := strings.Split(spec, ",")
	n, _ := strconv.Atoi(f[0])
	pem, err := os.ReadFile(f[3])
	if err != nil {
		t.Fatal(err)
	}
	o := xmpptest.Options{Addr: f[1], TLS: xmpptest.TrustPEM(pem), Mechanism: scram.ClientMechanism(scram.SHA256, &scram.SaltCache{})}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c := xmpptest.Dial(t, o, fmt.Sprintf("idle%d", i), f[2])
			c.Send("<presence/>")
		})
	}
	wg.Wait()
	fmt.Println("IDLE CLIENTS READY")
	bufio.NewReader(os.Stdin).ReadByte()
	os.Exit(0) // the hub sees the connections drop; no need to close each
}

// unshaped lifts the senders' shaper for the message benchmarks: their
// senders write as fast as the hub routes, far beyond what a client may
// send at the default --stanza-rate, and the routing is what they measure.
func unshaped(c *hub.Config) {
	c.Limits.StanzaRate, c.Limits.MessageRate, c.Limits.ByteRate = -1, -1, -1
}
