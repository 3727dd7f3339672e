package dashboard_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/geohub/geohub/dashboard"
	"github.com/geohub/geohub/internal/peers"
)

// TestShardNoticeInBrowser runs the web UI in Chromium
// (dashboard/web/e2e/shards.mjs) against a dashboard with one peer: the
// map shows the peer's device, and once the peer stops answering, a
// notice in the header names it.
func TestShardNoticeInBrowser(t *testing.T) {
	peers.Require(t, "chromium")
	web := filepath.Join(peers.Root(t), "dashboard", "web")
	buildUI(t, web)
	e, f := newFleetEnv(t, func(c *dashboard.Config) {
		c.UI, c.TileURL, c.TileAttribution = os.DirFS(filepath.Join(web, "dist")), "", "" // the page asks nobody but the hub
	})
	browser := peers.StartBrowserScript(t, filepath.Join(web, "e2e"), "shards.mjs",
		"GEOHUB_URL="+e.ts.URL, "GEOHUB_USER=alice", "GEOHUB_PASSWORD=pw-alice",
		"REMOTE_DEVICE="+jid("van"), "REMOTE_LAT=52.51",
		"SCREENSHOT="+filepath.Join(t.ArtifactDir(), "shards.png"), "PROFILE_DIR="+t.TempDir())
	browser.Run(func(step string, _ []byte) {
		if step == "fleet-shown" {
			f.down.Store(true)
		}
	})
}
