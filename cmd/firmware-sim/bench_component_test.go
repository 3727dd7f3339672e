package main

import (
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/peers"
)

// firmware-sim's devices log into Prosody and publish to GeoHub attached
// as Prosody's component (geo.localhost), under the same load as against
// GeoHub's own listener, in the same run.
func TestBenchComponentQuick(t *testing.T) {
	t.Parallel()
	peers.Require(t, "prosody")
	rep, text := runBenchCmd(t, "--servers", "geohub,geohub-component")
	if len(rep.Results) != 2 || rep.Results[1].Server != kindComponent {
		t.Fatalf("results: %+v", rep.Results)
	}
	r := rep.Results[1]
	if !strings.Contains(r.Version, "via Prosody 0.12") {
		t.Errorf("version %q", r.Version)
	}
	if r.Logins != 50 || r.PublishesPerS <= 0 || r.NotificationsPerS <= 0 || len(r.PublishErrors) != 0 || r.RefusedPublishes != 0 {
		t.Errorf("through the component: %d logins, %.0f publishes/s, %.0f notifications/s, errors %v, refused %d",
			r.Logins, r.PublishesPerS, r.NotificationsPerS, r.PublishErrors, r.RefusedPublishes)
	}
	if r.NotificationsMissing > int64(r.NotificationsConflated) {
		t.Errorf("notifications missing: %d", r.NotificationsMissing)
	}
	if !strings.Contains(text, "GeoHub ÷") {
		t.Errorf("the text report lacks the ratio column")
	}
}
