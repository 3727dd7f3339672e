package mqttbridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Config says which brokers the bridge uses and how topics map to devices.
// Start from DefaultConfig, change what is needed, then New validates it.
type Config struct {
	// Brokers are the connections to make, one per entry. An entry may list
	// several URLs separated by commas: servers of one cluster, tried in
	// turn. Schemes: tcp (or mqtt), ssl (or tls, mqtts), ws, wss.
	Brokers []string
	// ClientID names the session at the broker; it must stay the same
	// across restarts for the persistent session to be found again. Empty
	// means geohub-<Origin>.
	ClientID           string
	Username, Password string
	CAFile             string // PEM certificates to trust instead of the system's
	CertFile, KeyFile  string // a client certificate, PEM
	// QoS of the subscriptions and of status and alert publications: 0, 1
	// or 2. With 1 or 2, a message is acknowledged once stored.
	QoS byte
	// CleanSession starts a new session at every connect; off, the broker
	// keeps the subscriptions and queues messages while the bridge is away.
	CleanSession bool

	// OwnTracks is the topic prefix of OwnTracks trackers: messages on
	// <prefix>/<user>/<device> and <prefix>/<user>/<device>/event. Empty
	// turns OwnTracks off.
	OwnTracks string
	// OwnTracksName makes the account name from the topic's user and device:
	// a template with {user} and {device}, such as "{user}" (one tracker per
	// MQTT user, the default) or "{user}-{device}".
	OwnTracksName string
	// JSONTopic is the topic template of generic JSON locations, such as
	// sensors/{device}/location: {device} is one topic level and the
	// account name, + matches any level. Empty turns it off.
	JSONTopic string
	// JSONFields maps location fields to JSON paths (gjson syntax, dots for
	// nesting): "lat=latitude,lon=longitude,time=ts". Unnamed fields keep
	// their defaults (see DefaultJSONFields); "field=" ignores one.
	JSONFields string
	// TelemetryTopic is the topic template of numeric readings: every
	// number in the JSON object (or {"value": n, "unit": "..."}) is a
	// sensor. Empty turns it off.
	TelemetryTopic string
	// Unknown says what happens to a message of a device without an
	// account: "provision" creates an MQTT-only device account in Group;
	// "refuse" counts and drops it.
	Unknown string
	Group   string
	// ProvisionRate bounds the accounts provisioned a second (with a
	// burst of twice as many): each costs a PBKDF2 derivation, and anyone
	// who may publish on the broker can make up names. A message of an
	// unknown device over the rate is refused; the device's next one tries
	// again. 0 means no limit.
	ProvisionRate float64
	// Accept says which existing accounts take input from MQTT: "devices"
	// (every device account, XMPP ones included) or "mqtt" (only those
	// the bridge provisioned). Anyone who may publish on the mapped
	// topics at the broker may move an accepted device.
	Accept string

	// OutPrefix is the prefix of everything the bridge publishes. Empty
	// turns publishing off.
	OutPrefix string
	// Out lists what is published: positions, status, alerts.
	Out []string
	// OutFormat is the JSON of published positions: geohub, or owntracks
	// (an OwnTracks location message, for OwnTracks clients).
	OutFormat string
	// PositionQoS is the QoS of published positions. They are retained and
	// each supersedes the last, so 0 is usually enough.
	PositionQoS byte

	// Origin marks what this bridge publishes ("_geohub") so that it is
	// never ingested again. Empty means the hub's domain.
	Origin string
	// Workers is the number of goroutines turning messages into publishes;
	// 0 means one per CPU.
	Workers int
	// OfflineAfter is how long an MQTT device the bridge holds online may
	// stay silent before it goes offline; 0 means never by time (a last
	// will, the removal of the account or the bridge closing still do).
	OfflineAfter time.Duration
}

// DefaultJSONFields is the default mapping of generic JSON locations.
const DefaultJSONFields = "lat=lat,lon=lon,time=time,accuracy=accuracy,alt=alt,altaccuracy=altaccuracy,speed=speed,bearing=bearing,text=text"

// jsonFieldNames are the fields a mapping may name. Units: degrees, metres,
// metres per second; time is RFC 3339 text or Unix time as a number (in
// seconds, or milliseconds when it is above 10^11).
var jsonFieldNames = []string{"lat", "lon", "time", "accuracy", "alt", "altaccuracy", "speed", "bearing", "text"}

// Accept values.
const (
	AcceptDevices = "devices"
	AcceptMQTT    = "mqtt"
)

// Out kinds.
const (
	OutPositions = "positions"
	OutStatus    = "status"
	OutAlerts    = "alerts"
)

// DefaultConfig is the configuration geohub serve starts from: no broker
// (the bridge is off), QoS 1 with a persistent session, OwnTracks on
// owntracks/#, unknown devices provisioned in the group mqtt, everything
// published under geohub/.
func DefaultConfig() Config {
	return Config{
		QoS:           1,
		OwnTracks:     "owntracks",
		OwnTracksName: "{user}",
		JSONFields:    DefaultJSONFields,
		Unknown:       "provision",
		Group:         "mqtt",
		ProvisionRate: DefaultProvisionRate,
		Accept:        AcceptDevices,
		OutPrefix:     "geohub",
		Out:           []string{OutPositions, OutStatus, OutAlerts},
		OutFormat:     "geohub",
		OfflineAfter:  DefaultOfflineAfter,
	}
}

// DefaultProvisionRate is the default Config.ProvisionRate.
const DefaultProvisionRate = 10

// DefaultOfflineAfter is the default Config.OfflineAfter. A tracker that
// stays connected but reports less often (a parked phone in OwnTracks'
// significant-changes mode) shows offline between its reports: raise it,
// or set 0 and rely on last wills, for such fleets.
const DefaultOfflineAfter = 15 * time.Minute

// ConfigError is one problem with a Config. Option names the setting the
// way geohub serve's flags spell it ("mqtt-qos"), so that a message points
// at what to change.
type ConfigError struct {
	Option string
	Value  string
	Msg    string
}

func (e *ConfigError) Error() string {
	if e.Value == "" {
		return "--" + e.Option + ": " + e.Msg
	}
	return fmt.Sprintf("--%s %q: %s", e.Option, e.Value, e.Msg)
}

// plan is a validated Config, ready to use.
type plan struct {
	Config
	servers   [][]*url.URL
	tls       *tls.Config
	ownName   []segment // OwnTracksName, parsed
	json      *template
	telemetry *template
	fields    map[string]string // field -> JSON path, "" when ignored
	out       map[string]bool
}

// Validate reports every problem of the configuration at once, each a
// *ConfigError, or nil. It reads the TLS files.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

func (c Config) compile() (*plan, error) {
	p := &plan{Config: c, out: map[string]bool{}}
	var errs []error
	bad := func(option, value, format string, args ...any) {
		errs = append(errs, &ConfigError{Option: option, Value: value, Msg: fmt.Sprintf(format, args...)})
	}
	usesTLS := false
	for _, entry := range c.Brokers {
		var group []*url.URL
		for _, raw := range strings.Split(entry, ",") {
			raw = strings.TrimSpace(raw)
			u, err := parseBroker(raw)
			if err != nil {
				bad("mqtt", raw, "%v", err)
				continue
			}
			usesTLS = usesTLS || u.Scheme == "ssl" || u.Scheme == "wss"
			group = append(group, u)
		}
		if len(group) > 0 {
			p.servers = append(p.servers, group)
		}
	}
	if c.QoS > 2 {
		bad("mqtt-qos", fmt.Sprint(c.QoS), "want 0, 1 or 2")
	}
	if c.PositionQoS > 2 {
		bad("mqtt-position-qos", fmt.Sprint(c.PositionQoS), "want 0, 1 or 2")
	}
	if c.ClientID != "" && (len(c.ClientID) > 65535 || strings.ContainsAny(c.ClientID, "+#/\x00")) {
		bad("mqtt-client-id", c.ClientID, "must not contain +, #, / or NUL")
	}
	if c.Password != "" && c.Username == "" {
		bad("mqtt-password", "", "needs --mqtt-username")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		bad("mqtt-cert", c.CertFile, "give both --mqtt-cert and --mqtt-key, or neither")
	}
	if c.CAFile != "" || c.CertFile != "" || usesTLS {
		t, err := loadTLS(c.CAFile, c.CertFile, c.KeyFile)
		if err != nil {
			errs = append(errs, err)
		}
		p.tls = t
	}
	if c.OwnTracks != "" {
		if err := checkPrefix(c.OwnTracks); err != nil {
			bad("mqtt-owntracks", c.OwnTracks, "%v", err)
		}
		segs, err := parseName(c.OwnTracksName)
		if err != nil {
			bad("mqtt-owntracks-name", c.OwnTracksName, "%v", err)
		}
		p.ownName = segs
	}
	if c.JSONTopic != "" {
		t, err := parseTemplate(c.JSONTopic)
		if err != nil {
			bad("mqtt-json", c.JSONTopic, "%v", err)
		}
		p.json = t
	}
	if c.TelemetryTopic != "" {
		t, err := parseTemplate(c.TelemetryTopic)
		if err != nil {
			bad("mqtt-telemetry", c.TelemetryTopic, "%v", err)
		}
		p.telemetry = t
	}
	fields, err := parseFields(c.JSONFields)
	if err != nil {
		bad("mqtt-json-fields", c.JSONFields, "%v", err)
	}
	p.fields = fields
	if p.json != nil && (fields["lat"] == "" || fields["lon"] == "") {
		bad("mqtt-json-fields", c.JSONFields, "lat and lon must be mapped")
	}
	switch c.Unknown {
	case "provision", "refuse":
	default:
		bad("mqtt-unknown", c.Unknown, "want provision or refuse")
	}
	switch c.Accept {
	case "":
		p.Accept = AcceptDevices
	case AcceptDevices, AcceptMQTT:
	default:
		bad("mqtt-accept", c.Accept, "want %s or %s", AcceptDevices, AcceptMQTT)
	}
	if c.ProvisionRate < 0 || math.IsNaN(c.ProvisionRate) || math.IsInf(c.ProvisionRate, 0) {
		bad("mqtt-provision-rate", fmt.Sprint(c.ProvisionRate), "want accounts a second, 0 for no limit")
	}
	if c.Unknown == "provision" && (c.Group == "" || len(c.Group) > 64 || strings.ContainsAny(c.Group, ",\x00\n\r\t")) {
		bad("mqtt-group", c.Group, "provisioned devices need a group name: 1 to 64 characters, no comma")
	}
	if c.OutPrefix != "" {
		if err := checkPrefix(c.OutPrefix); err != nil {
			bad("mqtt-out-prefix", c.OutPrefix, "%v", err)
		}
	}
	for _, o := range c.Out {
		for _, k := range strings.Split(o, ",") {
			switch k = strings.TrimSpace(k); k {
			case OutPositions, OutStatus, OutAlerts:
				p.out[k] = true
			case "", "none":
			default:
				bad("mqtt-out", k, "want positions, status, alerts or none")
			}
		}
	}
	switch c.OutFormat {
	case "geohub", "owntracks":
	default:
		bad("mqtt-out-format", c.OutFormat, "want geohub or owntracks")
	}
	if c.OfflineAfter < 0 {
		bad("mqtt-offline-after", c.OfflineAfter.String(), "cannot be negative (0: never by time)")
	}
	if c.Workers < 0 {
		bad("mqtt-workers", fmt.Sprint(c.Workers), "cannot be negative")
	}
	if p.Workers == 0 {
		p.Workers = runtime.GOMAXPROCS(0)
	}
	if len(c.Brokers) > 0 && c.OwnTracks == "" && c.JSONTopic == "" && c.TelemetryTopic == "" && (c.OutPrefix == "" || len(p.out) == 0) {
		bad("mqtt", "", "nothing to do: every inbound topic and publishing are off")
	}
	return p, errors.Join(errs...)
}

// parseBroker checks one broker URL and fills in the default port.
func parseBroker(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errors.New("want a URL such as tcp://host:1883")
	}
	port := ""
	switch u.Scheme {
	case "tcp", "mqtt":
		u.Scheme, port = "tcp", "1883"
	case "ssl", "tls", "mqtts":
		u.Scheme, port = "ssl", "8883"
	case "ws", "wss":
	default:
		return nil, fmt.Errorf("scheme %q: want tcp, ssl, ws or wss", u.Scheme)
	}
	if port != "" && u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u, nil
}

func loadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, &ConfigError{Option: "mqtt-ca", Value: caFile, Msg: err.Error()}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Option: "mqtt-ca", Value: caFile, Msg: "no PEM certificate in it"}
		}
		t.RootCAs = pool
	}
	if certFile != "" && keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, &ConfigError{Option: "mqtt-cert", Value: certFile, Msg: err.Error()}
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// checkPrefix checks a topic prefix: levels without wildcards.
func checkPrefix(p string) error {
	switch {
	case strings.ContainsAny(p, "+#\x00"):
		return errors.New("a prefix has no wildcards")
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//"):
		return errors.New("no empty topic levels")
	case strings.HasPrefix(p, "$"):
		return errors.New("topics starting with $ belong to the broker")
	}
	return nil
}

func parseFields(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, set := range []string{DefaultJSONFields, s} {
		for _, kv := range strings.Split(set, ",") {
			kv = strings.TrimSpace(kv)
			if kv == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || !slices.Contains(jsonFieldNames, k) {
				return nil, fmt.Errorf("%q: want field=path with field one of %s", kv, strings.Join(jsonFieldNames, ", "))
			}
			m[k] = v
		}
	}
	return m, nil
}
