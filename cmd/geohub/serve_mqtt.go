package main

import (
	"flag"
	"strconv"
	"strings"

	"github.com/geohub/geohub/dashboard"
	"github.com/geohub/geohub/mqttbridge"
)

// bridgeStatus shows the bridge on the dashboard (GET /api/bridge,
// /metrics); nil when the bridge is off.
func bridgeStatus(b *mqttbridge.Bridge) dashboard.Bridge {
	if b == nil {
		return nil
	}
	return dashboard.BridgeFunc(func() dashboard.BridgeStatus {
		st := b.Stats()
		out := dashboard.BridgeStatus{State: b.BridgeState()}
		for _, c := range st.Brokers {
			out.Brokers = append(out.Brokers, dashboard.BridgeBroker{
				Broker: c.Broker, Connected: c.Connected, Connects: c.Connects, LastError: c.LastError, LastErrorTime: c.ErrorTime,
				Received: c.Received, Fixes: c.Fixes, Readings: c.Readings, Malformed: c.Malformed, Refused: c.Refused,
				Failed: c.Failed, Looped: c.Looped, Ignored: c.Ignored, Provisioned: c.Provisioned, Published: c.Published,
				Dropped: c.Dropped,
			})
		}
		return out
	})
}

// mqttFlags adds the MQTT bridge's flags to fs; c starts as the bridge's
// defaults. mqttbridge.Config.Validate names problems by these flags.
func mqttFlags(fs *flag.FlagSet, c *mqttbridge.Config) {
	*c = mqttbridge.DefaultConfig()
	fs.Var(brokersFlag{&c.Brokers}, "mqtt", "MQTT broker to bridge: tcp://, ssl://, ws:// or wss:// URL; repeat for several brokers (in GEOHUB_MQTT, "+
		"separate them with spaces), commas between servers of one cluster. The bridge is off without it")
	fs.StringVar(&c.ClientID, "mqtt-client-id", "", "MQTT client ID; keep it across restarts so the broker keeps the session (default geohub-<domain>)")
	fs.StringVar(&c.Username, "mqtt-username", "", "MQTT user name")
	fs.StringVar(&c.Password, "mqtt-password", "", "MQTT password (GEOHUB_MQTT_PASSWORD keeps it off the command line)")
	fs.StringVar(&c.CAFile, "mqtt-ca", "", "PEM CA certificates to trust for ssl:// and wss:// brokers (default: the system's)")
	fs.StringVar(&c.CertFile, "mqtt-cert", "", "PEM client certificate for the broker")
	fs.StringVar(&c.KeyFile, "mqtt-key", "", "PEM private key for --mqtt-cert")
	fs.Var(qosFlag{&c.QoS}, "mqtt-qos", "QoS of the subscriptions and of status and alert messages: 0, 1 or 2; from 1 on, a message is acknowledged once stored")
	fs.BoolVar(&c.CleanSession, "mqtt-clean-session", c.CleanSession, "start a new MQTT session at every connect; by default the broker keeps the session and queues messages while the hub is away")
	fs.StringVar(&c.OwnTracks, "mqtt-owntracks", c.OwnTracks, "topic prefix of OwnTracks trackers: <prefix>/<user>/<device>[/event]; empty turns OwnTracks off")
	fs.StringVar(&c.OwnTracksName, "mqtt-owntracks-name", c.OwnTracksName, "account name of an OwnTracks tracker, from {user} and {device} of its topic, e.g. {user}-{device}")
	fs.StringVar(&c.JSONTopic, "mqtt-json", c.JSONTopic, "topic template of generic JSON locations, e.g. sensors/{device}/location ({device} is the account name, + any level); empty: off")
	fs.StringVar(&c.JSONFields, "mqtt-json-fields", c.JSONFields, "JSON paths of the location fields for --mqtt-json, field=path (dots for nesting); fields not named keep these defaults. "+
		"Degrees, metres, m/s; time is RFC 3339 or Unix seconds or milliseconds")
	fs.StringVar(&c.TelemetryTopic, "mqtt-telemetry", c.TelemetryTopic, "topic template of numeric readings, e.g. sensors/{device}/telemetry: each number in the object, or {\"value\":n,\"unit\":\"..\"}, is a sensor; empty: off")
	fs.StringVar(&c.Unknown, "mqtt-unknown", c.Unknown, "a tracker without an account: provision (an MQTT-only device in --mqtt-group) or refuse")
	fs.StringVar(&c.Group, "mqtt-group", c.Group, "group of provisioned MQTT devices")
	fs.Float64Var(&c.ProvisionRate, "mqtt-provision-rate", c.ProvisionRate, "at most this many MQTT devices provisioned a second (bursts of twice as many); a message of an unknown device over the rate is refused; 0: no limit")
	fs.StringVar(&c.Accept, "mqtt-accept", c.Accept, "existing accounts that take MQTT input: devices (every device account, XMPP ones too) or mqtt (only those the bridge provisioned)")
	fs.StringVar(&c.OutPrefix, "mqtt-out-prefix", c.OutPrefix, "prefix of what the hub publishes: <prefix>/<device>/location, <prefix>/<device>/status, <prefix>/alerts/<fence>, <prefix>/status; empty: publish nothing")
	fs.Var(outFlag{&c.Out}, "mqtt-out", "what the hub publishes: positions, status, alerts (comma-separated), or none")
	fs.StringVar(&c.OutFormat, "mqtt-out-format", c.OutFormat, "JSON of published positions: geohub, or owntracks (OwnTracks location messages)")
	fs.Var(qosFlag{&c.PositionQoS}, "mqtt-position-qos", "QoS of published positions (retained; each replaces the last)")
	fs.DurationVar(&c.OfflineAfter, "mqtt-offline-after", c.OfflineAfter, "an MQTT device goes offline after this long without a message (its last will or the hub stopping also do); 0: never by time")
}

// brokersFlag collects --mqtt: each use, and each space-separated word of
// GEOHUB_MQTT, is one broker.
type brokersFlag struct{ list *[]string }

func (f brokersFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, " ")
}

func (f brokersFlag) Set(v string) error {
	*f.list = append(*f.list, strings.Fields(v)...)
	return nil
}

// outFlag is a comma-separated list that replaces the default.
type outFlag struct{ list *[]string }

func (f outFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

func (f outFlag) Set(v string) error {
	*f.list = strings.Split(v, ",")
	return nil
}

type qosFlag struct{ q *byte }

func (f qosFlag) String() string {
	if f.q == nil {
		return "0"
	}
	return strconv.Itoa(int(*f.q))
}

func (f qosFlag) Set(v string) error {
	n, err := strconv.ParseUint(v, 10, 8)
	if err != nil {
		return err
	}
	*f.q = byte(n)
	return nil
}
