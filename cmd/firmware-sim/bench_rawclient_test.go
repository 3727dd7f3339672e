package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
)

// The brute-forcer's raw SASL gets the hub's real answers: a refusal for
// a wrong PLAIN password and for a random SCRAM proof, and once the
// address is locked out, a refusal before TLS.
func TestRawPasswordGuessesAreAnswered(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxAuthFailures = 2 })
	h.Account(t, "car", devices.RoleDevice)
	cfg := h.ClientTLS.Clone()
	cfg.ServerName = "localhost"
	from := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9)}
	ctx := context.Background()
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256"} {
		if err := guessPassword(ctx, h.Addr, cfg, from, "car", mech); err == nil || err.Error() != "not-authorized" {
			t.Errorf("%s guess: %v, want not-authorized", mech, err)
		}
	}
	err := guessPassword(ctx, h.Addr, cfg, from, "car", "PLAIN")
	if err == nil || strings.Contains(err.Error(), "unexpected") {
		t.Errorf("a guess after the lockout: %v, want the connection refused", err)
	}
	if err := startTLSAndDrop(ctx, h.Addr, cfg, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 10)}); err != nil {
		t.Errorf("STARTTLS from another address: %v", err)
	}
}
