package firmwaresim

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTT says where the broker is, for devices whose transport is mqtt.
type MQTT struct {
	Broker string      // tcp://host:port or ssl://host:port
	TLS    *tls.Config // for ssl://
}

// mqttTransport is a device as an OwnTracks tracker: it publishes location
// messages (JSON) to owntracks/<name>/<device> with QoS 1, so each is
// acknowledged by the broker. Reconnecting is the device loop's job, as
// for XMPP, not paho's.
type mqttTransport struct {
	cfg    MQTT
	acct   Account
	topic  string
	client mqtt.Client
	done   chan struct{}
	batt   float64 // the last battery reading, sent with each location
}

func newMQTTTransport(cfg MQTT, acct Account) *mqttTransport {
	return &mqttTransport{cfg: cfg, acct: acct, topic: "owntracks/" + acct.Name() + "/tracker", batt: -1}
}

func (t *mqttTransport) connect(ctx context.Context) error {
	done := make(chan struct{})
	o := mqtt.NewClientOptions().AddBroker(t.cfg.Broker).SetClientID(t.acct.Name()).
		SetUsername(t.acct.Name()).SetPassword(t.acct.Password).
		SetAutoReconnect(false).SetConnectRetry(false).SetCleanSession(true).
		SetConnectTimeout(10 * time.Second).SetKeepAlive(60 * time.Second).
		SetConnectionLostHandler(func(mqtt.Client, error) { close(done) })
	if t.cfg.TLS != nil {
		o.SetTLSConfig(t.cfg.TLS)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if err := wait(ctx, tok); err != nil {
		return &Failure{Kind: "dial", Err: err}
	}
	t.client, t.done = c, done
	return nil
}

func (t *mqttTransport) ended() <-chan struct{} { return t.done }

// checks is false: a broker takes anything, so an invalid fix is not
// refused here (the bridge refuses it later).
func (t *mqttTransport) checks() bool { return false }

// ownTracks is an OwnTracks location message.
type ownTracks struct {
	Type string  `json:"_type"`
	Lat  float64 `json:"lat"`
	Lon  float64 `json:"lon"`
	Tst  int64   `json:"tst"`            // seconds
	Acc  int     `json:"acc"`            // metres
	Vel  int     `json:"vel"`            // km/h
	Cog  int     `json:"cog"`            // degrees
	Batt *int    `json:"batt,omitempty"` // %
	Tid  string  `json:"tid"`
}

func (t *mqttTransport) sendFix(ctx context.Context, f Fix, valid bool) error {
	m := ownTracks{Type: "location", Lat: round(f.Lat, 6), Lon: round(f.Lon, 6), Tst: f.Time.Unix(),
		Acc: int(math.Round(f.Accuracy)), Vel: int(math.Round(f.Speed * 3.6)), Cog: int(math.Round(f.Bearing)) % 360, Tid: tid(t.acct.Name())}
	if !valid {
		m.Lat = 95.5
	}
	if t.batt >= 0 {
		b := int(math.Round(t.batt))
		m.Batt = &b
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := wait(ctx, t.client.Publish(t.topic, 1, false, payload)); err != nil {
		return &Failure{Kind: "publish", Err: err}
	}
	return nil
}

// sendReadings keeps the battery level for the next location message:
// OwnTracks has no other place for readings.
func (t *mqttTransport) sendReadings(_ context.Context, rs []SensorReading, _ time.Time) error {
	for _, r := range rs {
		if r.Name == "battery" {
			t.batt = r.Value
		}
	}
	return nil
}

func (t *mqttTransport) drop() {
	if t.client != nil {
		t.client.Disconnect(0)
	}
}

func (t *mqttTransport) close() {
	if t.client != nil {
		t.client.Disconnect(250)
	}
}

// tid is the two-character tracker ID OwnTracks shows on its map.
func tid(name string) string {
	if len(name) >= 2 {
		return name[len(name)-2:]
	}
	return fmt.Sprintf("%2s", name)
}

// wait waits for a paho token or the context.
func wait(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
