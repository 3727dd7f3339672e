package firmwaresim

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/geohub/geohub/internal/peers"
)

// A simulated tracker publishes OwnTracks location messages that a plain
// paho subscriber reads back from a real Mosquitto.
func TestMQTTDevicePublishesOwnTracks(t *testing.T) {
	broker := peers.StartMosquitto(t)
	got := make(chan ownTracks, 10)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL).SetClientID("watcher"))
	if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(0)
	tok := sub.Subscribe("owntracks/+/+", 1, func(_ mqtt.Client, m mqtt.Message) {
		var o ownTracks
		if err := json.Unmarshal(m.Payload(), &o); err != nil || m.Topic() != "owntracks/truck-1/tracker" {
			t.Errorf("message on %s: %s (%v)", m.Topic(), m.Payload(), err)
		}
		got <- o
	})
	if tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	tr := newMQTTTransport(MQTT{Broker: broker.URL}, Account{JID: "truck-1@localhost", Password: "pw"})
	ctx := context.Background()
	if err := tr.connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	if err := tr.sendReadings(ctx, []SensorReading{{Name: "battery", Value: 81.6, Unit: "%"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 14, 3, 0, 0, time.UTC)
	if err := tr.sendFix(ctx, Fix{Time: at, Lat: 52.5201, Lon: 13.405, Speed: 10, Bearing: 359.7, Accuracy: 4.6}, true); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-got:
		if o.Type != "location" || o.Lat != 52.5201 || o.Tst != at.Unix() || o.Vel != 36 || o.Cog != 0 || o.Acc != 5 ||
			o.Batt == nil || *o.Batt != 82 || o.Tid != "-1" {
			t.Errorf("location: %+v", o)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message at the subscriber")
	}
}
