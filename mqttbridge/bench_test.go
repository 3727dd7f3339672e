package mqttbridge_test

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/geohub/geohub/mqttbridge"
)

// BenchmarkInbound measures fixes per second from MQTT trackers through
// the whole pipeline: OwnTracks locations (QoS 1) of 1,000 devices from a
// Mosquitto on the same machine to the bridge, which publishes each on its
// device's PEP node through the hub (validation, pubsub item, position,
// trail point, fence state: one group-committed, synced transaction per
// batch) and acknowledges it to the broker once durable. The clock stops
// when the last fix is durable.
//
//	go test -run '^$' -bench Inbound -benchtime 200000x ./mqttbridge/
//
// live: 8 paho publishers send as fast as the broker acknowledges (64 in
// flight each), held back only when they are more than 20,000 fixes ahead
// of the hub (Mosquitto acknowledges a QoS 1 publish at once, so nothing
// else would stop them from filling its queue); publishers, broker and hub
// share the 2 cores. drain: the fixes wait at the broker in the bridge's
// persistent session (published while the bridge was away); the clock
// measures broker -> hub only.
//
// inflight is Mosquitto's max_inflight_messages toward the bridge (its
// default is 20): with acknowledgements held until the fix is durable, it
// bounds how many fixes one group commit can gather. out=positions
// publishes every new position again on geohub/<device>/location.
func BenchmarkInbound(b *testing.B) {
	for _, c := range []struct {
		mode     string
		inflight int
		out      bool
	}{
		{"live", 20, true},
		{"live", 1000, true},
		{"live", 1000, false},
		{"drain", 1000, true},
		{"drain", 1000, false},
	} {
		out := "none"
		if c.out {
			out = "positions"
		}
		b.Run(fmt.Sprintf("%s/inflight=%d/out=%s", c.mode, c.inflight, out), func(b *testing.B) {
			benchInbound(b, c.mode == "drain", c.inflight, c.out)
		})
	}
}

func benchInbound(b *testing.B, drain bool, inflight int, out bool) {
	const devices, publishers, window, maxAhead = 1000, 8, 64, 20_000
	configure := func(c *mqttbridge.Config) {
		c.ProvisionRate = 0 // the warm-up provisions every device at once
		if !out {
			c.Out = []string{"none"}
		}
	}
	e := start(b, configure, "max_inflight_messages "+strconv.Itoa(inflight), "max_queued_messages 0")
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	clients := make([]mqtt.Client, publishers)
	for i := range clients {
		clients[i] = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(e.broker.URL).
			SetClientID(fmt.Sprintf("bench-%d", i)).SetCleanSession(true).SetCustomOpenConnectionFn(mqttbridge.Dial))
		if tok := clients[i].Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		defer clients[i].Disconnect(100)
	}
	var stored func() uint64 // fixes durable so far, for the live publishers to stay near
	// publish sends fixes [from, to) of the sequence: fix k is device
	// k%devices's fix number k/devices.
	publish := func(from, to int) {
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				var pending []mqtt.Token
				var buf []byte
				for k := from + p; k < to; k += publishers {
					for stored != nil && (k-from)%256 < publishers && uint64(k) > stored()+maxAhead {
						time.Sleep(time.Millisecond)
					}
					dev, seq := k%devices, k/devices
					buf = append(buf[:0], `{"_type":"location","lat":`...)
					buf = strconv.AppendFloat(buf, 52+float64(dev)*1e-3+float64(seq%100)*1e-5, 'f', 6, 64)
					buf = append(buf, `,"lon":`...)
					buf = strconv.AppendFloat(buf, 13+float64(seq%100)*1e-5, 'f', 6, 64)
					buf = append(buf, `,"tst":`...)
					buf = strconv.AppendInt(buf, base.Unix()+int64(seq), 10)
					buf = append(buf, `,"acc":8,"vel":36,"cog":90,"tid":"tr"}`...)
					pending = append(pending, clients[p].Publish("owntracks/dev-"+strconv.Itoa(dev)+"/gps", 1, false, append([]byte(nil), buf...)))
					if len(pending) == window {
						pending[0].Wait()
						pending = pending[1:]
					}
				}
				for _, t := range pending {
					t.Wait()
				}
			})
		}
		wg.Wait()
	}
	bridge := e.bridge
	fixes := func() uint64 { return bridge.Stats().Total.Fixes }
	// Warm up: every device is provisioned (PBKDF2, once per device).
	publish(0, devices)
	waitFor(b, "the devices provisioned", func() bool { return fixes() == devices })
	want := uint64(b.N)
	if drain {
		bridge.Close()
		publish(devices, devices+b.N) // queued at the broker for the bridge's session
		want = uint64(b.N)
	} else {
		want += devices
		stored = fixes
	}

	if f := os.Getenv("GEOHUB_BENCH_CPUPROFILE"); f != "" { // the timed part only
		out, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		pprof.StartCPUProfile(out)
		defer func() { pprof.StopCPUProfile(); out.Close() }()
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	if drain {
		bridge, _ = startBridge(b, e.hub, e.broker, configure)
	} else {
		publish(devices, devices+b.N)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for fixes() < want {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d fixes stored", fixes(), want)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	st := bridge.Stats().Total
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "fixes/s")
	b.ReportMetric(float64(st.Published), "out-msgs")
	// CPU of this process (hub, bridge and, live, the publishers), not
	// the broker's: a figure that other work on the machine does not move.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/fix")
	if st.Malformed+st.Refused+st.Failed != 0 {
		b.Errorf("stats: %+v", st)
	}
}

// cpuTime is the user and system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
