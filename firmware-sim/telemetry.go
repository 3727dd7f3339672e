package firmwaresim

import (
	"math"
	"math/rand/v2"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file holds the simulated sensors: the GPS receiver's error, the
// battery and the thermometer.

// GPS error model: the claimed accuracy wanders around a device's typical
// value (4–8 m), within 3–15 m, as the sky view changes over minutes; the
// position error is a first-order Gauss-Markov process with a one-minute
// correlation time, as real receivers' errors drift slowly instead of
// jumping from fix to fix.
const (
	minAccuracy = 3.0
	maxAccuracy = 15.0
	accTau      = 300.0 // seconds
	accSigma    = 2.5   // metres around the typical accuracy
	gpsErrTau   = 60.0  // seconds
)

type gpsNoise struct {
	m           Mover
	rng         *rand.Rand
	typical     float64 // metres, the accuracy this receiver usually has
	acc         float64 // metres
	east, north float64 // current error, metres
}

// WithGPSNoise makes m look like a real receiver. It passes m's time,
// speed and bearing through unchanged (a receiver derives those from
// Doppler, not from its noisy positions), sets Accuracy to a plausible
// 3–15 m and moves the reported position away from m's true one by an
// error that is never larger than that Accuracy. Consecutive noisy
// positions are therefore consistent with the speed and bearing up to the
// two fixes' accuracies. rng is split at once (see Group.NewMover).
func WithGPSNoise(m Mover, rng *rand.Rand) Mover {
	g := &gpsNoise{m: m, rng: splitRand(rng)}
	g.typical = 4 + 4*g.rng.Float64()
	g.acc = g.typical
	g.east, g.north = g.acc/2*g.rng.NormFloat64(), g.acc/2*g.rng.NormFloat64()
	return g
}

func (g *gpsNoise) Next(t time.Time, dt time.Duration) Fix {
	f := g.m.Next(t, dt)
	s := math.Max(0, dt.Seconds())
	a := math.Exp(-s / accTau)
	g.acc = g.typical + a*(g.acc-g.typical) + accSigma*math.Sqrt(1-a*a)*g.rng.NormFloat64()
	g.acc = math.Min(maxAccuracy, math.Max(minAccuracy, g.acc))
	a = math.Exp(-s / gpsErrTau)
	k := g.acc / 2 * math.Sqrt(1-a*a)
	g.east = a*g.east + k*g.rng.NormFloat64()
	g.north = a*g.north + k*g.rng.NormFloat64()
	if r := math.Hypot(g.east, g.north); r > g.acc {
		g.east, g.north = g.east*g.acc/r, g.north*g.acc/r
	}
	f.Lat = math.Max(-90, math.Min(90, f.Lat+g.north/metresPerDegree))
	if c := math.Cos(degToRad(f.Lat)); c > 1e-9 {
		f.Lon = math.Remainder(f.Lon+g.east/(metresPerDegree*c), 360)
	}
	f.Accuracy = g.acc
	return f
}

// TelemetrySpec says which sensors a device has and how often it reads
// them.
type TelemetrySpec struct {
	Every       time.Duration    `yaml:"every"` // between readings; default 30s
	Battery     *BatterySpec     `yaml:"battery"`
	Temperature *TemperatureSpec `yaml:"temperature"`
}

// BatterySpec is a battery draining at a constant rate, recharged to Start
// whenever it runs empty.
type BatterySpec struct {
	Start        float64 `yaml:"start"`          // percent; default 100
	DrainPerHour float64 `yaml:"drain_per_hour"` // percentage points per hour
}

// TemperatureSpec is an outdoor thermometer: a daily cycle around Mean,
// warmest in the afternoon (15:00 UTC), plus a little noise.
type TemperatureSpec struct {
	Mean  float64 `yaml:"mean"`  // °C
	Swing float64 `yaml:"swing"` // °C, amplitude of the daily cycle
}

// UnmarshalYAML decodes telemetry over its default (a reading every 30 s).
func (t *TelemetrySpec) UnmarshalYAML(n *yaml.Node) error {
	type plain TelemetrySpec
	p := plain{Every: 30 * time.Second}
	err := n.Decode(&p)
	*t = TelemetrySpec(p)
	return err
}

// UnmarshalYAML decodes a battery over its default (starting full).
func (b *BatterySpec) UnmarshalYAML(n *yaml.Node) error {
	type plain BatterySpec
	p := plain{Start: 100}
	err := n.Decode(&p)
	*b = BatterySpec(p)
	return err
}

// SensorReading is one value of one sensor, in the unit named (as
// XEP-0323 numeric fields carry them).
type SensorReading struct {
	Name  string
	Value float64
	Unit  string
}

// Sensor names and units.
const (
	SensorBattery     = "battery"
	SensorTemperature = "temperature"
	UnitPercent       = "%"
	UnitCelsius       = "°C"
)

// tempNoise is the thermometer's noise (one sigma, °C); it is cut at
// three sigmas so that readings stay within Mean ± (Swing + 0.3).
const tempNoise = 0.1

// Sensors reads one device's sensors. Not safe for concurrent use.
type Sensors struct {
	spec  TelemetrySpec
	rng   *rand.Rand
	phase float64   // hours this device's thermometer runs ahead of the cycle
	start time.Time // of the first reading: the battery drains from then
}

// NewSensors makes a device's sensors. It takes what it needs from rng
// at once, so that the caller's later draws do not change the readings.
func NewSensors(spec TelemetrySpec, rng *rand.Rand) *Sensors {
	s := &Sensors{spec: spec, rng: splitRand(rng)}
	s.phase = 2*s.rng.Float64() - 1 // ±1 h: not every thermometer sits in the same sun
	return s
}

// Every is how often the device should read its sensors.
func (s *Sensors) Every() time.Duration { return s.spec.Every }

// Read gives the readings at t, one per sensor in the spec (none without
// sensors); the device calls it every spec.Every. The battery drains from
// the first call on; its percent is rounded to 0.1 and never below 0. The
// temperature is rounded to 0.01 °C.
func (s *Sensors) Read(t time.Time) []SensorReading {
	if s.start.IsZero() {
		s.start = t
	}
	var out []SensorReading
	if b := s.spec.Battery; b != nil {
		out = append(out, SensorReading{SensorBattery, batteryLevel(*b, t.Sub(s.start)), UnitPercent})
	}
	if c := s.spec.Temperature; c != nil {
		day := float64(t.UTC().Sub(t.UTC().Truncate(24*time.Hour))) / float64(time.Hour)
		v := c.Mean + c.Swing*math.Sin(2*math.Pi*(day+s.phase-9)/24) // peaks at 15:00
		v += math.Max(-3, math.Min(3, s.rng.NormFloat64())) * tempNoise
		out = append(out, SensorReading{SensorTemperature, math.Round(v*100) / 100, UnitCelsius})
	}
	return out
}

// batteryLevel is the charge after running for d: it falls linearly from
// Start and jumps back to Start when it would reach 0, as if recharged.
func batteryLevel(b BatterySpec, d time.Duration) float64 {
	if b.Start <= 0 {
		return 0
	}
	used := math.Max(0, b.DrainPerHour*d.Hours())
	level := b.Start - math.Mod(used, b.Start)
	return math.Max(0, math.Round(level*10)/10)
}

func (t *TelemetrySpec) validate(v *checker, p string) {
	if t.Every < 0 {
		v.add(p+".every", "%v: want 0 (every fix) or more", t.Every)
	}
	if b := t.Battery; b != nil {
		if !(b.Start > 0 && b.Start <= 100) {
			v.add(p+".battery.start", "%g: want above 0 up to 100 (%%)", b.Start)
		}
		v.nonNegative(p+".battery.drain_per_hour", b.DrainPerHour)
	}
	if c := t.Temperature; c != nil {
		if !(c.Mean >= -90 && c.Mean <= 60) {
			v.add(p+".temperature.mean", "%g: want -90 to 60 (°C)", c.Mean)
		}
		v.nonNegative(p+".temperature.swing", c.Swing)
	}
}
