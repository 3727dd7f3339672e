package dashboard_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geohub/geohub/dashboard"
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
)

// fleet adds n devices in groups of groupSize (g0, g1, ...), each with a
// position and a battery reading, and an operator "op" in g0.
func fleet(b *testing.B, e *env, n, groupSize int) []string {
	b.Helper()
	reqs := make([]devices.NewAccount, 0, n+1)
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("d%05d", i)
		reqs = append(reqs, devices.NewAccount{Name: names[i], Groups: []string{fmt.Sprintf("g%d", i/groupSize)}, Password: "x"})
	}
	reqs = append(reqs, devices.NewAccount{Name: "op", Role: devices.RoleOperator, Groups: []string{"g0"}, Password: "pw-op"})
	if _, err := e.accounts.Add(reqs...); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	now := time.Now()
	for i, name := range names {
		p := geoloc.Position{Device: jid(name), Lat: 47 + float64(i%100)/10, Lon: 5 + float64(i/100)/10, Time: now, Received: now, Source: "bench",
			Geoloc: geoloc.Geoloc{Speed: f64(13.9), Bearing: f64(float64(i % 360)), Accuracy: f64(4)}}
		w, then, err := e.geo.Stage(p)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(2)
		e.commit.Submit(w, func(err error) { then(err); wg.Done() })
		w, then, err = e.geo.StageReadings(jid(name), []geoloc.Reading{{Sensor: "battery", Value: float64(i % 100), Unit: "%", Time: now}}, now)
		if err != nil {
			b.Fatal(err)
		}
		e.commit.Submit(w, func(err error) { then(err); wg.Done() })
	}
	wg.Wait()
	return names
}

// percentile returns the p-th percentile of ds, sorting them.
func percentile(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkPositions10k times GET /api/positions over HTTP for 10,000
// devices: the whole map for an admin, one group of 1,000 for an
// operator, and the admin's again while 1,000 fixes/s are written.
// p99-ms is the figure the dashboard must keep under 50 ms.
func BenchmarkPositions10k(b *testing.B) {
	envIterations = 1
	defer func() { envIterations = 4096 }()
	e := newEnv(b)
	names := fleet(b, e, 10_000, 1000)
	run := func(b *testing.B, c *client, want int) {
		var took []time.Duration
		var size int
		var body bytes.Buffer // reused: the client's garbage would slow the server in the same process
		req, _ := http.NewRequest("GET", e.ts.URL+"/api/positions", nil)
		req.Header.Set("Authorization", "Bearer "+c.bearer)
		for b.Loop() {
			start := time.Now()
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body.Reset()
			_, err = body.ReadFrom(res.Body)
			res.Body.Close()
			took = append(took, time.Since(start))
			if err != nil || res.StatusCode != 200 {
				b.Fatalf("positions: %s %v", res.Status, err)
			}
			size = body.Len()
			if n := bytes.Count(body.Bytes(), []byte(`"type":"Feature"`)); n != want {
				b.Fatalf("%d features, want %d", n, want)
			}
		}
		b.ReportMetric(ms(percentile(took, 0.5)), "p50-ms")
		b.ReportMetric(ms(percentile(took, 0.99)), "p99-ms")
		b.ReportMetric(float64(size), "bytes")
	}
	admin := e.token("root")
	b.Run("admin", func(b *testing.B) { run(b, admin, 10_000) })
	b.Run("operator", func(b *testing.B) { run(b, e.token("op"), 1000) })
	b.Run("admin-while-1000-fixes-per-s", func(b *testing.B) {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			produce(e, names, 1000, stop)
		}()
		run(b, admin, 10_000)
		close(stop)
		<-done
	})
}

// produce stages rate fixes per second, round robin over names, until
// stop; it does not wait for them to be durable. It returns the number
// staged.
func produce(e *env, names []string, rate int, stop <-chan struct{}) int {
	const tick = 10 * time.Millisecond
	per := rate * int(tick) / int(time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-stop:
			return n
		case <-t.C:
		}
		for range per {
			now := time.Now()
			name := names[n%len(names)]
			p := geoloc.Position{Device: jid(name), Lat: 47 + float64(n%1000)/1000, Lon: 5 + float64(n%777)/1000, Time: now, Received: now,
				Source: "bench", Geoloc: geoloc.Geoloc{Speed: f64(10)}}
			w, then, err := e.geo.Stage(p)
			if err != nil {
				panic(err)
			}
			e.commit.Submit(w, then)
			n++
		}
	}
}

// BenchmarkStreamFanout connects 100 live streams (half admins seeing
// 1,000 devices, half operators seeing the 500 of their group) and writes
// 1,000 fixes/s for GEOHUB_BENCH_SECONDS (default 5) seconds, each device
// moving once a second. Each client reads and scans every event. It
// reports the fix-to-client latency (from the fix's time, set when it is
// staged, to the client reading it) and the share of expected updates
// the slowest client received; dropped counts clients cut off.
func BenchmarkStreamFanout(b *testing.B) {
	envIterations = 1
	defer func() { envIterations = 4096 }()
	seconds := 5
	if s, err := strconv.Atoi(os.Getenv("GEOHUB_BENCH_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	const clients, devices, rate = 100, 1000, 1000
	e := newEnv(b, func(c *dashboard.Config) { c.StreamInterval = 0 }) // the production 250 ms
	names := fleet(b, e, devices, devices/2)
	admin, op := e.token("root"), e.token("op")
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var lat []time.Duration
		var dropped atomic.Int64
		var wg sync.WaitGroup
		var ready sync.WaitGroup
		for i := range clients {
			c := admin
			if i%2 == 1 {
				c = op
			}
			ready.Add(1)
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/api/stream", nil)
				req.Header.Set("Authorization", "Bearer "+c.bearer)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					ready.Done()
					dropped.Add(1)
					return
				}
				defer res.Body.Close()
				ready.Done()
				var mine []time.Duration
				r := bufio.NewReaderSize(res.Body, 1<<20)
				for {
					line, err := r.ReadSlice('\n')
					if err == bufio.ErrBufferFull {
						// A long data line: scan it as it comes.
						rest, err2 := r.ReadBytes('\n')
						line, err = append(slices.Clone(line), rest...), err2
					}
					if err != nil {
						if ctx.Err() == nil {
							dropped.Add(1) // the server ended the stream
						}
						break
					}
					if !strings.HasPrefix(string(line[:min(len(line), 6)]), "data: ") {
						continue
					}
					now := time.Now()
					s := string(line)
					for {
						i := strings.Index(s, `"time":"`)
						if i < 0 {
							break
						}
						s = s[i+8:]
						j := strings.IndexByte(s, '"')
						if t, err := time.Parse(time.RFC3339Nano, s[:j]); err == nil {
							mine = append(mine, now.Sub(t))
						}
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
		ready.Wait()
		stop := make(chan struct{})
		start := time.Now()
		staged := make(chan int, 1)
		go func() { staged <- produce(e, names, rate, stop) }()
		time.Sleep(time.Duration(seconds) * time.Second)
		close(stop)
		n := <-staged
		elapsed := time.Since(start)
		time.Sleep(time.Second) // the last flush arrives
		cancel()
		wg.Wait()
		mu.Lock()
		expected := float64(n)*float64(clients/2) + float64(n)/2*float64(clients/2) // admins see all, operators half
		b.ReportMetric(float64(n)/elapsed.Seconds(), "fixes/s")
		b.ReportMetric(float64(len(lat))/expected, "delivered-share")
		b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
		b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
		b.ReportMetric(ms(percentile(lat, 1)), "max-ms")
		b.ReportMetric(float64(dropped.Load()), "dropped")
		mu.Unlock()
	}
}
