package mqttbridge_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A 64 MiB message through Mosquitto is refused without being read into
// memory (paho alone would allocate all of it at once): what the process
// allocates meanwhile stays far below the message's size. It is counted
// and logged as malformed and acknowledged, so the broker does not send it
// again, and the next fix comes through on the same connection.
func TestOversizedMessageIsRefusedUnread(t *testing.T) {
	e := start(t, nil)
	const size = 64 << 20
	file := filepath.Join(t.TempDir(), "big.json")
	head := []byte(`{"_type":"location","lat":52.5,"lon":13.4,"x":"`)
	if err := os.WriteFile(file, append(head, bytes.Repeat([]byte("x"), size)...), 0o600); err != nil {
		t.Fatal(err)
	}
	connects := e.bridge.Stats().Brokers[0].Connects
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	host, port := hostPort(e.broker.Addr)
	if out, err := exec.Command("mosquitto_pub", "-h", host, "-p", port, "-q", "1", "-t", "owntracks/big/phone", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	waitFor(t, "the oversized message refused and acknowledged", func() bool {
		st := e.bridge.Stats().Total
		return st.Malformed == 1 && st.Acked == 1
	})
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > size/4 {
		t.Errorf("allocated %d MiB while a %d MiB message went by", grew>>20, size>>20)
	} else {
		t.Logf("allocated %.2f MiB while a %d MiB message went by; heap in use %d -> %d MiB",
			float64(grew)/(1<<20), size>>20, before.HeapInuse>>20, after.HeapInuse>>20)
	}
	for _, want := range []string{"topic=owntracks/big/phone", fmt.Sprintf("payload of %d bytes, more than 65536: skipped unread", len(head)+size)} {
		if !strings.Contains(e.log.String(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	if e.hub.Accounts.Exists("big") {
		t.Error("an account was provisioned for the oversized message")
	}

	tst := time.Now().Add(-time.Minute).Unix()
	pub(t, e.broker, "owntracks/good/phone", fmt.Sprintf(`{"_type":"location","lat":52.5,"lon":13.4,"tst":%d}`, tst))
	waitFor(t, "a good fix after the oversized one", func() bool { return e.bridge.Stats().Total.Fixes == 1 })
	if st := e.bridge.Stats(); st.Total.Received != 2 || st.Brokers[0].Connects != connects {
		t.Errorf("received %d messages (want 2: the oversized one once), connects %d -> %d", st.Total.Received, connects, st.Brokers[0].Connects)
	}
}
