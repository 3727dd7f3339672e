package firmwaresim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/peers"
)

func TestItemSentAt(t *testing.T) {
	at := time.Unix(1764094000, 123456789)
	id := itemIDAt("van-12", at)
	if id != "van-12-1764094000123456789" {
		t.Errorf("itemIDAt: %q", id)
	}
	if got, ok := ItemSentAt(id); !ok || !got.Equal(at) {
		t.Errorf("ItemSentAt(%q) = %v, %v", id, got, ok)
	}
	for _, bad := range []string{"", "current", "van-12", "van-12-", "van-12-x17", "van-12--5", "1a2b"} {
		if got, ok := ItemSentAt(bad); ok {
			t.Errorf("ItemSentAt(%q) = %v, want no time", bad, got)
		}
	}
}

// trustPEM is a client TLS configuration that trusts the certificate in
// file.
func trustPEM(t *testing.T, file string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", file)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
}

// A subscriber on Prosody's pubsub service creates an open node and
// measures one notification for every fix that three devices, held until
// all were online, published to it; a subscriber that comes later is sent the last item on
// subscribing and does not measure it.
func TestSubscriberMeasuresNotifications(t *testing.T) {
	p := peers.StartProsody(t, peers.ProsodyOptions{
		Users: map[string]string{"sub": "sub-pw", "late": "late-pw",
			"dev-1": "dev-pw", "dev-2": "dev-pw", "dev-3": "dev-pw"},
		Admins: []string{"sub@localhost"}, // only admins create nodes there
	})
	hub := Hub{Addr: p.Addr, TLS: trustPEM(t, p.CertFile), Timeout: 10 * time.Second}
	target := Target{Service: "pubsub.localhost", Node: "fleet"}
	ctx := context.Background()
	stats := NewStats(3)
	sub, err := Subscribe(ctx, SubscriberOptions{Hub: hub, Account: Account{JID: "sub@localhost", Password: "sub-pw"},
		Target: target, Stats: stats, Create: true,
		Config: map[string]string{"publish_model": "open", "send_last_published_item": "on_sub"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	sc := DefaultScenario(3, Box{})
	sc.Groups[0].Name, sc.Groups[0].Interval, sc.Groups[0].Telemetry = "dev", 50*time.Millisecond, nil
	sc.Duration = 3 * time.Second
	var accounts []Account
	for _, n := range []string{"dev-1", "dev-2", "dev-3"} {
		accounts = append(accounts, Account{JID: n + "@localhost", Password: "dev-pw"})
	}
	// Held, the devices log in and send nothing until released.
	hold := make(chan struct{})
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, sc, Options{Hub: hub, Target: target, Accounts: accounts, LoginRate: 1000, Stats: stats, Hold: hold})
	}()
	for deadline := time.Now().Add(10 * time.Second); stats.Summary().ConnectedPeak < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if sum := stats.Summary(); sum.ConnectedPeak != 3 || sum.FixesSent != 0 {
		t.Fatalf("held: %d devices online, %d fixes sent; want 3 and none", sum.ConnectedPeak, sum.FixesSent)
	}
	close(hold)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	sum := stats.Summary()
	// A few fixes a device at least; Prosody on a loaded machine acks
	// slowly (p50 150 ms seen), so the run is not held to a rate.
	if sum.Acked < 6 || sum.ErrorsTotal != 0 {
		t.Fatalf("run: %+v", sum)
	}
	// Every acknowledged fix is notified once (Prosody notifies the
	// subscribed full JID only); wait for the last ones. A fix whose
	// acknowledgement the end of the run cut short (one per device at
	// most) may be notified too, but nothing that was not sent.
	deadline := time.Now().Add(10 * time.Second)
	for sub.Received() < sum.Acked && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// A late notification may still come in: read both counts once they
	// agree.
	received, got := sub.Received(), stats.Summary()
	for got.Notifications != received && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		received, got = sub.Received(), stats.Summary()
	}
	if received < sum.Acked || received > sum.FixesSent || sub.Ignored() != 0 {
		t.Errorf("subscriber measured %d notifications and ignored %d; %d fixes sent, %d acknowledged",
			received, sub.Ignored(), sum.FixesSent, sum.Acked)
	}
	if got.Notifications != received || got.NotifyP50Ms <= 0 || got.NotifyP99Ms < got.NotifyP50Ms || got.NotifyMaxMs > 10_000 {
		t.Errorf("notification latency: %d of %d, p50 %v ms, p99 %v ms, max %v ms", got.Notifications, received, got.NotifyP50Ms, got.NotifyP99Ms, got.NotifyMaxMs)
	}

	late, err := Subscribe(ctx, SubscriberOptions{Hub: hub, Account: Account{JID: "late@localhost", Password: "late-pw"},
		Target: target, Stats: stats})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	for late.Ignored() == 0 && time.Now().Before(deadline.Add(5*time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	if late.Ignored() != 1 || late.Received() != 0 {
		t.Errorf("late subscriber: ignored %d, measured %d; want the last item ignored", late.Ignored(), late.Received())
	}

	// Creating the node again is refused, and said so.
	_, err = Subscribe(ctx, SubscriberOptions{Hub: hub, Account: Account{JID: "sub@localhost", Password: "sub-pw"},
		Target: target, Stats: stats, Create: true})
	if err == nil || !strings.Contains(err.Error(), "create node fleet on pubsub.localhost") {
		t.Errorf("creating the node twice: %v", err)
	}
}
