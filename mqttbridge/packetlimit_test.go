package mqttbridge

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// publishPacket is a PUBLISH of payload to topic, as a broker sends it.
func publishPacket(t *testing.T, topic string, qos byte, id uint16, payload []byte) []byte {
	t.Helper()
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.TopicName, p.Qos, p.MessageID, p.Payload = topic, qos, id, payload
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// paho, reading through the limiter, gets small messages whole and an
// oversized one with its payload replaced by the marker, topic and packet
// identifier intact, so that it acknowledges the right message; the
// packets after it come through.
func TestPacketLimiterSkipsOversizedPayloads(t *testing.T) {
	const max = 1 << 10
	big := bytes.Repeat([]byte("x"), 3*max)
	var stream []byte
	stream = append(stream, publishPacket(t, "a/1", 1, 7, []byte(`{"lat":1}`))...)
	stream = append(stream, publishPacket(t, "a/2", 1, 8, big)...)
	stream = append(stream, publishPacket(t, "a/3", 0, 0, big[:max])...) // at the limit
	stream = append(stream, publishPacket(t, "a/4", 2, 9, big)...)
	stream = append(stream, publishPacket(t, strings.Repeat("t", 2*max), 0, 0, []byte("{}"))...) // a long topic, small payload
	l := newPacketLimiter(bufio.NewReaderSize(bytes.NewReader(stream), 64), max)
	want := []struct {
		topic   string
		id      uint16
		payload string
	}{
		{"a/1", 7, `{"lat":1}`},
		{"a/2", 8, skippedPrefix + "3072"},
		{"a/3", 0, string(big[:max])},
		{"a/4", 9, skippedPrefix + "3072"},
		{strings.Repeat("t", 2*max), 0, "{}"},
	}
	for i, w := range want {
		cp, err := packets.ReadPacket(l)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		p, ok := cp.(*packets.PublishPacket)
		if !ok || p.TopicName != w.topic || p.MessageID != w.id || string(p.Payload) != w.payload {
			t.Errorf("packet %d: %v, want %s id %d payload %.40q", i, cp, w.topic, w.id, w.payload)
		}
		if n, ok := skippedPayload(p.Payload); ok != strings.HasPrefix(w.payload, skippedPrefix) || ok && n != len(big) {
			t.Errorf("packet %d: skippedPayload = %d, %v", i, n, ok)
		}
	}
	if _, err := packets.ReadPacket(l); err != io.EOF {
		t.Errorf("after the last packet: %v, want EOF", err)
	}

	// Any other packet that large ends the connection.
	suback := append([]byte{0x90}, encodeLength(2*max)...)
	l = newPacketLimiter(bufio.NewReader(bytes.NewReader(append(suback, make([]byte, 2*max)...))), max)
	if _, err := packets.ReadPacket(l); !errors.Is(err, errPacketTooLarge) {
		t.Errorf("a SUBACK of %d bytes: %v, want errPacketTooLarge", 2*max, err)
	}
}
