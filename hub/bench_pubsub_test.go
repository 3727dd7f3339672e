package hub_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// BenchmarkPEPPublish measures XEP-0080 fixes published to PEP and delivered
// to one subscribing operator: publishes acknowledged per second (each ack
// sent only once the fix is durable), notifications per second, ack and
// notification latency, and the hub's CPU time per publish. The devices and
// the operator run in a child process, so the CPU time is the hub's alone.
//
// Each device keeps one publish in flight ("max" rate: as fast as the hub
// answers), or all devices together publish at a fixed rate.
func BenchmarkPEPPublish(b *testing.B) {
	for _, tc := range []struct {
		devices, rate int
	}{{100, 0}, {1000, 0}, {1000, 2000}, {1000, 5000}} {
		name := fmt.Sprintf("devices=%d/rate=max", tc.devices)
		if tc.rate > 0 {
			name = fmt.Sprintf("devices=%d/rate=%d", tc.devices, tc.rate)
		}
		b.Run(name, func(b *testing.B) { benchPublish(b, tc.devices, tc.rate) })
	}
}

// loadResult is what the load generator reports.
type loadResult struct {
	Acks, Notifications  int
	Seconds              float64
	AckP50, AckP99       float64 // milliseconds
	NotifyP50, NotifyP99 float64
}

func benchPublish(b *testing.B, n, rate int) {
	h := hubtest.Start(b)
	const pw = "bench-device-password"
	reqs := []devices.NewAccount{{Name: "op", Role: devices.RoleOperator, Groups: []string{"fleet"}, Password: pw}}
	for i := range n {
		reqs = append(reqs, devices.NewAccount{Name: fmt.Sprintf("dev%d", i), Role: devices.RoleDevice, Groups: []string{"fleet"}, Password: pw})
	}
	if _, err := h.Accounts.Add(reqs...); err != nil {
		b.Fatal(err)
	}
	total := max(b.N, n)
	spec, _ := json.Marshal(map[string]any{"addr": h.Addr, "cert": h.CertFile, "pw": pw, "devices": n, "rate": rate, "total": total})
	child := exec.Command(os.Args[0], "-test.run=^TestPublishLoad$", "-test.v")
	child.Env = append(os.Environ(), "GEOHUB_PUBLISH_LOAD="+string(spec))
	child.Stderr = os.Stderr
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	var res loadResult
	var cpuStart, cpuEnd time.Duration
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "LOAD START":
			cpuStart = cpuTime()
			b.ResetTimer()
		case strings.HasPrefix(line, "LOAD RESULT "):
			cpuEnd = cpuTime()
			b.StopTimer()
			json.Unmarshal([]byte(strings.TrimPrefix(line, "LOAD RESULT ")), &res)
		}
	}
	if err := child.Wait(); err != nil || res.Acks == 0 {
		b.Fatalf("load generator: %v (%+v)", err, res)
	}
	b.ReportMetric(float64(res.Acks)/res.Seconds, "publishes/s")
	b.ReportMetric(float64(res.Notifications)/res.Seconds, "notifications/s")
	b.ReportMetric(res.AckP50, "ack-p50-ms")
	b.ReportMetric(res.AckP99, "ack-p99-ms")
	b.ReportMetric(res.NotifyP99, "notify-p99-ms")
	b.ReportMetric(float64((cpuEnd-cpuStart).Microseconds())/float64(res.Acks), "hub-cpu-µs/publish")
	if p, ok := h.Geo.Latest("dev0@localhost"); !ok || p.Lat == 0 {
		b.Errorf("no position stored for dev0: %+v", p)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPublishLoad is the child process of BenchmarkPEPPublish; it does
// nothing in a normal test run.
func TestPublishLoad(t *testing.T) {
	raw := os.Getenv("GEOHUB_PUBLISH_LOAD")
	if raw == "" {
		return
	}
	var spec struct {
		Addr, Cert, PW       string
		Devices, Rate, Total int
	}
	json.Unmarshal([]byte(raw), &spec)
	pem, _ := os.ReadFile(spec.Cert)
	tlsCfg := xmpptest.TrustPEM(pem)

	// The operator: announces geoloc+notify and counts notifications.
	op := xmpptest.DialRaw(t, spec.Addr)
	op.Login("localhost", tlsCfg, "op", spec.PW, "desk")
	features := []string{"http://jabber.org/protocol/disco#info", nsGeoloc + "+notify"}
	ver := capsVer("client/pc//bench", features)
	op.Send("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='bench' ver='" + ver + "'/></presence>")
	q := op.ReadUntil("</iq>")
	i := strings.Index(q, "id='")
	id := q[i+4 : i+4+strings.IndexByte(q[i+4:], '\'')]
	answer := "<iq type='result' to='localhost' id='" + id + "'><query xmlns='http://jabber.org/protocol/disco#info' node='bench#" + ver + "'><identity category='client' type='pc' name='bench'/>"
	for _, f := range features {
		answer += "<feature var='" + f + "'/>"
	}
	op.Send(answer + "</query></iq><iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
	op.ReadUntil("id='sync'")

	conns := make([]net.Conn, spec.Devices)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for d := range spec.Devices {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := xmpptest.DialRaw(t, spec.Addr)
			r.Login("localhost", tlsCfg, fmt.Sprintf("dev%d", d), spec.PW, "gps")
			conns[d] = r.Conn()
		})
	}
	wg.Wait()

	var notes atomic.Int64
	var noteLat []time.Duration
	var noteMu sync.Mutex
	stopNotes := make(chan struct{})
	go func() {
		buf := make([]byte, 256<<10)
		carry := 0
		for {
			op.Conn().SetReadDeadline(time.Now().Add(time.Second))
			m, err := op.Conn().Read(buf[carry:])
			data := buf[:carry+m]
			now := time.Now().UnixNano()
			last := 0
			for {
				j := bytes.Index(data[last:], []byte("<text>"))
				if j < 0 {
					break
				}
				k := bytes.Index(data[last+j:], []byte("</text>"))
				if k < 0 {
					break
				}
				sent, _ := strconv.ParseInt(string(data[last+j+6:last+j+k]), 10, 64)
				notes.Add(1)
				noteMu.Lock()
				noteLat = append(noteLat, time.Duration(now-sent))
				noteMu.Unlock()
				last += j + k + 7
			}
			carry = copy(buf, data[last:])
			select {
			case <-stopNotes:
				return
			default:
			}
			if err != nil && !os.IsTimeout(err) {
				return
			}
		}
	}()

	// Rate mode: a ticker hands out permits; max mode: none.
	var permits chan struct{}
	if spec.Rate > 0 {
		permits = make(chan struct{}, spec.Devices)
		go func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			per := float64(spec.Rate) / 1000
			credit := 0.0
			for range tick.C {
				for credit += per; credit >= 1; credit-- {
					select {
					case permits <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	var issued atomic.Int64
	lats := make([][]time.Duration, spec.Devices)
	fmt.Println("LOAD START")
	start := time.Now()
	for d := range spec.Devices {
		wg.Go(func() {
			c := conns[d]
			buf := make([]byte, 8192)
			for seq := 0; issued.Add(1) <= int64(spec.Total); seq++ {
				if permits != nil {
					<-permits
				}
				sent := time.Now()
				fix := fmt.Sprintf("<iq type='set' id='p%d'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/geoloc'>"+
					"<item id='current'><geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>%.5f</lat><lon>13.405</lon><accuracy>5</accuracy>"+
					"<speed>12.5</speed><text>%d</text></geoloc></item></publish></pubsub></iq>", seq, 52+float64(seq%1000)/10000, sent.UnixNano())
				if _, err := c.Write([]byte(fix)); err != nil {
					t.Error(err)
					return
				}
				got := []byte{}
				for !bytes.Contains(got, []byte("type='result'")) {
					c.SetReadDeadline(time.Now().Add(30 * time.Second))
					m, err := c.Read(buf)
					if err != nil {
						t.Error(err)
						return
					}
					got = append(got, buf[:m]...)
					if bytes.Contains(got, []byte("type='error'")) {
						t.Errorf("publish refused: %s", got)
						return
					}
				}
				lats[d] = append(lats[d], time.Since(sent))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for deadline := time.Now().Add(10 * time.Second); notes.Load() < int64(spec.Total) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // load generator, not a test assertion
	}
	close(stopNotes)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	noteMu.Lock()
	nl := slices.Clone(noteLat)
	noteMu.Unlock()
	res := loadResult{Acks: len(all), Notifications: int(notes.Load()), Seconds: elapsed.Seconds(),
		AckP50: pct(all, 50), AckP99: pct(all, 99), NotifyP50: pct(nl, 50), NotifyP99: pct(nl, 99)}
	out, _ := json.Marshal(res)
	fmt.Println("LOAD RESULT " + string(out))
	os.Exit(0)
}

func pct(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[(len(d)-1)*p/100].Microseconds()) / 1000
}
