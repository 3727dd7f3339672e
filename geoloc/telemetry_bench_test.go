package geoloc

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlnode"
)

// BenchmarkTelemetryIngest measures sensor data items through the whole
// store path, durable: each XEP-0323 <fields/> item (four numeric readings
// under one timestamp) read from XML, validated, staged, committed in
// group-commit batches by the one writer (fsync per batch), series points
// and latest values written, threshold rules judged. 10,000 devices report
// in turn; producers submit from several goroutines as sessions would. With
// rules, a battery and a temperature rule watch every device, and values
// wander across the thresholds now and then.
func BenchmarkTelemetryIngest(b *testing.B) {
	for _, rules := range []int{0, 2} {
		b.Run(fmt.Sprintf("rules=%d", rules), func(b *testing.B) { benchTelemetry(b, rules) })
	}
}

func benchTelemetry(b *testing.B, rules int) {
	s, db := openDurable(b, Options{})
	all := []*Rule{
		{Name: "Low battery", Sensor: "battery", Below: f64(15), Hysteresis: 2},
		{Name: "Cold chain", Sensor: "temperature", Below: f64(2), Above: f64(8), Hysteresis: 0.5},
	}
	if _, err := s.AddRules(all[:rules], nil); err != nil {
		b.Fatal(err)
	}
	var events atomic.Int64
	s.AddSink(func(es []Event) { events.Add(int64(len(es))) })
	commit := store.NewCommitter(db)
	defer commit.Close()
	const devices, perItem = 10_000, 4
	start := time.Now().Add(-time.Hour)
	produce(b, commit, 2, func(r *rand.Rand) stageFunc {
		return func(i int) (store.Write, func(error), error) {
			at := start.Add(time.Duration(i) * time.Millisecond).UTC().Format(time.RFC3339Nano)
			item := fmt.Appendf(nil, `<fields xmlns='urn:xmpp:iot:sensordata' seqnr='%d' done='true'><node nodeId='dev%d'><timestamp value='%s'>`+
				`<numeric name='battery' momentary='true' value='%.1f' unit='%%'/><numeric name='temperature' momentary='true' value='%.2f' unit='°C'/>`+
				`<numeric name='humidity' value='%.1f' unit='%%'/><numeric name='voltage' value='%.3f' unit='V'/></timestamp></node></fields>`,
				i, i%devices, at, 5+r.Float64()*90, r.Float64()*10, 30+r.Float64()*40, 11.5+r.Float64())
			n, err := xmlnode.Parse(item, "")
			if err != nil {
				return nil, nil, err
			}
			return s.HandleSensorData(fmt.Sprintf("dev%d@localhost", i%devices), "pep", n, time.Now())
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(float64(b.N*perItem)/b.Elapsed().Seconds(), "readings/s")
	b.ReportMetric(float64(events.Load())/float64(b.N), "alerts/item")
}

// BenchmarkTelemetryMemory measures what the store holds in memory per
// series point (a reading kept for the retention) and per sensor's latest
// value, with device names as long as real JIDs.
func BenchmarkTelemetryMemory(b *testing.B) {
	const devices, sensors, points = 5_000, 4, 400_000
	names := []string{"battery", "temperature", "humidity", "voltage"}
	for range b.N {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		db := openMem(b)
		s, err := OpenStore(db, Options{})
		if err != nil {
			b.Fatal(err)
		}
		commit := store.NewCommitter(db)
		start := time.Now().Add(-time.Hour)
		ingest := func(from, to int) {
			var wg sync.WaitGroup
			for i := from; i < to; i++ {
				wg.Add(1)
				r := Reading{Sensor: names[i%sensors], Value: float64(i%1000) / 10, Unit: "%",
					Time: start.Add(time.Duration(i/(devices*sensors)) * time.Second)}
				w, then, err := s.StageReadings(fmt.Sprintf("device-%d@fleet.example.com", i/sensors%devices), []Reading{r}, start)
				if err != nil {
					b.Fatal(err)
				}
				commit.Submit(w, func(err error) { then(err); wg.Done() })
			}
			wg.Wait()
		}
		ingest(0, devices*sensors)
		runtime.GC()
		var mid runtime.MemStats
		runtime.ReadMemStats(&mid)
		ingest(devices*sensors, devices*sensors+points)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(mid.HeapInuse-before.HeapInuse)/(devices*sensors), "B/sensor")
		b.ReportMetric(float64(after.HeapInuse-mid.HeapInuse)/points, "B/point")
		commit.Close()
		db.Close()
	}
}
