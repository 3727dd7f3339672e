package firmwaresim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Scenario is a simulated fleet: groups of devices, how they move, report
// and misbehave. The same Seed gives the same paths and readings.
type Scenario struct {
	Seed     int64         `yaml:"seed"`
	Duration time.Duration `yaml:"duration"` // 0: until interrupted
	Hub      HubSpec       `yaml:"hub"`      // flags override
	MQTT     MQTTSpec      `yaml:"mqtt"`
	Groups   []Group       `yaml:"groups"`
}

// HubSpec is where the XMPP devices connect.
type HubSpec struct {
	Addr   string `yaml:"addr"`   // host:port
	Domain string `yaml:"domain"` // of the device JIDs
	CA     string `yaml:"ca"`     // PEM certificate to trust, as given (relative to the working folder, like the flag)
}

// MQTTSpec is where the MQTT devices connect.
type MQTTSpec struct {
	Broker string `yaml:"broker"` // tcp://host:port, ssl://host:port, ...
}

// Group is a number of alike devices.
type Group struct {
	Name      string         `yaml:"name"`      // devices are Name-1 ... Name-Count
	Count     int            `yaml:"count"`     // default 1
	Transport string         `yaml:"transport"` // xmpp (default) or mqtt
	Interval  time.Duration  `yaml:"interval"`  // between fixes; default 10s
	Jitter    float64        `yaml:"jitter"`    // ± share of Interval, drawn per fix; default 0.1
	Movement  MovementSpec   `yaml:"movement"`
	Telemetry *TelemetrySpec `yaml:"telemetry"` // nil: no sensors
	Chaos     ChaosSpec      `yaml:"chaos"`
}

// Movement models.
const (
	ModelWalk      = "walk"
	ModelWaypoints = "waypoints"
	ModelRoute     = "route"
)

// MovementSpec says how a group's devices move: Model walk drives in Box
// ([minLon, minLat, maxLon, maxLat]), waypoints loops through Points
// ([lon, lat] each), route follows the line in File (relative to the
// scenario's folder), round and round with Loop, else back and forth.
type MovementSpec struct {
	Model  string      `yaml:"model"`
	Box    []float64   `yaml:"box"`
	Points [][]float64 `yaml:"points"`
	File   string      `yaml:"file"`
	Speed  float64     `yaml:"speed"` // m/s; default 10
	Loop   bool        `yaml:"loop"`
	// Route is File's line, filled by LoadScenario or LoadRoutes.
	Route [][2]float64 `yaml:"-"`
}

// ChaosSpec is how a group misbehaves on purpose.
type ChaosSpec struct {
	DropPerHour  float64       `yaml:"drop_per_hour"`  // connections lost per device and hour
	PausePerHour float64       `yaml:"pause_per_hour"` // silences per device and hour
	PauseFor     time.Duration `yaml:"pause_for"`      // default 1m
	InvalidShare float64       `yaml:"invalid_share"`  // of fixes sent invalid, 0..1
}

// Defaults, set before decoding so that a value written in the file,
// zero included, wins.
func defaultGroup() Group {
	return Group{Count: 1, Transport: "xmpp", Interval: 10 * time.Second, Jitter: 0.1,
		Movement: MovementSpec{Speed: 10}, Chaos: ChaosSpec{PauseFor: time.Minute}}
}

// UnmarshalYAML decodes a group over its defaults.
func (g *Group) UnmarshalYAML(n *yaml.Node) error {
	type plain Group // without this method
	p := plain(defaultGroup())
	if err := n.Decode(&p); err != nil {
		return err
	}
	*g = Group(p)
	return nil
}

// DefaultScenario is the demo: n cars (car-1 ...) walking the streets of
// box (BerlinMitte when box is zero), reporting every 2 s, with a battery
// and a thermometer read every 30 s.
func DefaultScenario(n int, box Box) *Scenario {
	if box == (Box{}) {
		box = BerlinMitte
	}
	g := defaultGroup()
	g.Name, g.Count, g.Interval = "car", max(n, 1), 2*time.Second
	g.Movement = MovementSpec{Model: ModelWalk, Speed: 10, Box: []float64{box.MinLon, box.MinLat, box.MaxLon, box.MaxLat}}
	g.Telemetry = &TelemetrySpec{Every: 30 * time.Second, Battery: &BatterySpec{Start: 100, DrainPerHour: 3},
		Temperature: &TemperatureSpec{Mean: 12, Swing: 4}}
	return &Scenario{Seed: 1, Groups: []Group{g}}
}

// LoadScenario reads a scenario file (ParseScenario) and the route files
// it names, relative to its folder.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ParseScenario(data, path)
	if err != nil {
		return nil, err
	}
	if err := s.LoadRoutes(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// LoadRoutes reads the route of every group of model route, a relative
// File taken from dir.
func (s *Scenario) LoadRoutes(dir string) error {
	for i := range s.Groups {
		m := &s.Groups[i].Movement
		if m.Model != ModelRoute {
			continue
		}
		file := m.File
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		pts, err := LoadRoute(file)
		if err != nil {
			return fmt.Errorf("groups[%d].movement.file: %w", i, err)
		}
		m.Route = pts
	}
	return nil
}

// ParseScenario reads a scenario in YAML or JSON: JSON when name ends in
// .json or data starts with '{'. Both go through the same YAML decoder
// (JSON is YAML) so that they decode alike, durations included ("5s");
// JSON is checked as JSON first for its own syntax errors. Unknown fields
// are errors. Defaults are filled in, then everything is validated and
// every error reported with its field path. Routes are not read: see
// LoadScenario.
func ParseScenario(data []byte, name string) (*Scenario, error) {
	ext := strings.ToLower(filepath.Ext(name))
	if ext == ".json" || (ext != ".yaml" && ext != ".yml" && bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))) {
		if err := json.Unmarshal(data, new(any)); err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				return nil, fmt.Errorf("%s: not JSON: line %d: %w", name, 1+bytes.Count(data[:syn.Offset], []byte("\n")), err)
			}
			return nil, fmt.Errorf("%s: not JSON: %w", name, err)
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty scenario", name)
	}
	if err := knownFields(&root, reflect.TypeFor[Scenario](), ""); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := new(Scenario)
	if err := root.Decode(s); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// knownFields reports a key in n that no field of t takes, with its path.
// It stands in for the decoder's own check, which a type's UnmarshalYAML
// (needed for defaults) switches off below it.
func knownFields(n *yaml.Node, t reflect.Type, path string) error {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else {
			n = n.Content[0]
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			if err := knownFields(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode && t != reflect.TypeFor[time.Time]():
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, sub := n.Content[i].Value, strings.TrimPrefix(path+"."+n.Content[i].Value, ".")
			if key == "<<" { // a merge key: its mapping (or list of them) belongs here
				m := n.Content[i+1]
				if m.Kind == yaml.AliasNode {
					m = m.Alias
				}
				items := []*yaml.Node{m}
				if m.Kind == yaml.SequenceNode {
					items = m.Content
				}
				for _, it := range items {
					if err := knownFields(it, t, path); err != nil {
						return err
					}
				}
				continue
			}
			f, ok := fieldByTag(t, key)
			if !ok {
				return fmt.Errorf("%s: unknown field (line %d)", sub, n.Content[i].Line)
			}
			if err := knownFields(n.Content[i+1], f.Type, sub); err != nil {
				return err
			}
		}
	}
	return nil
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == key && tag != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// Rand is device index's own random source in group, derived from the
// seed, the group's name and the index alone, so that adding, removing
// or reordering groups changes no other device's path.
func (s *Scenario) Rand(group string, index int) *rand.Rand {
	sum := sha256.Sum256(fmt.Appendf(nil, "firmware-sim\x00%d\x00%s\x00%d", s.Seed, group, index))
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16])))
}

// DeviceName is the name of device index (from 0) of the group: Name-1 ...
func (g *Group) DeviceName(index int) string { return fmt.Sprintf("%s-%d", g.Name, index+1) }

// Behaviour is how the group's devices report and misbehave.
func (g *Group) Behaviour() Behaviour {
	b := Behaviour{Interval: g.Interval, Jitter: g.Jitter, DropPerHour: g.Chaos.DropPerHour,
		PausePerHour: g.Chaos.PausePerHour, PauseFor: g.Chaos.PauseFor, InvalidShare: g.Chaos.InvalidShare}
	if g.Telemetry != nil {
		b.TelemetryEvery = g.Telemetry.Every
	}
	return b
}

// NewMover builds a device's movement model with GPS noise on top
// (WithGPSNoise). Followers of one route start at random places on it. It
// takes what it needs from rng at once, so that the caller may go on
// drawing from rng (jitter, chaos, sensors) without changing the path.
func (g *Group) NewMover(rng *rand.Rand) (Mover, error) {
	m := &g.Movement
	var v checker
	m.validate(&v, "movement")
	if err := v.err(); err != nil {
		return nil, err
	}
	own, noise := splitRand(rng), splitRand(rng)
	var mv Mover
	var err error
	switch m.Model {
	case ModelWalk:
		mv, err = NewRoadWalk(own, m.box(), m.Speed)
	case ModelWaypoints:
		mv, err = NewWaypointLoop(own, m.points(), m.Speed)
	default: // route
		if m.Route == nil {
			return nil, fmt.Errorf("route %s not loaded (LoadScenario or LoadRoutes reads it)", m.File)
		}
		var f *RouteFollower
		if f, err = NewRouteFollower(m.Route, m.Speed, m.Loop); err == nil {
			f.Skip(own.Float64() * f.Period())
			mv = f
		}
	}
	if err != nil {
		return nil, err
	}
	return WithGPSNoise(mv, noise), nil
}

func (m *MovementSpec) box() Box { return Box{m.Box[0], m.Box[1], m.Box[2], m.Box[3]} }

func (m *MovementSpec) points() [][2]float64 {
	pts := make([][2]float64, len(m.Points))
	for i, p := range m.Points {
		pts[i] = [2]float64{p[0], p[1]}
	}
	return pts
}
