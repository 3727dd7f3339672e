package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/servetest"
)

// onePixelPNG is a valid PNG tile (1×1, grey).
var onePixelPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00:~\x9bU" +
	"\x00\x00\x00\nIDATx\x9cc\xb8\x0f\x00\x00\xfe\x00\xfd\xcd\x13\xa8\xee\x00\x00\x00\x00IEND\xaeB`\x82")

// TestMapTilesInBrowser serves street tiles from loopback to the dashboard
// in Chromium (dashboard/web/e2e/tiles.mjs): they load over the offline map
// with their attribution, asked for with the hub's origin as the referrer
// (tile servers' usage policies want it); when the tile server fails, the
// offline map stays and one notice says so.
func TestMapTilesInBrowser(t *testing.T) {
	for _, mode := range []string{"ok", "failing"} {
		t.Run(mode, func(t *testing.T) {
			web, bin, data := browserSetup(t)
			var mu sync.Mutex
			var referers []string
			tiles := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				referers = append(referers, r.Referer())
				mu.Unlock()
				if mode == "failing" {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "image/png")
				w.Write(onePixelPNG)
			}))
			defer tiles.Close()
			password := servetest.AddAccount(t, bin, data, "alice", "--role", "operator", "--group", "demo")
			hub := servetest.Start(t, bin, data, "--c2s-tls", "", "--map-tiles", tiles.URL+"/{z}/{x}/{y}.png",
				"--map-attribution", "© Loopback tiles")
			browser := peers.StartBrowserScript(t, filepath.Join(web, "e2e"), "tiles.mjs",
				"GEOHUB_URL=http://"+hub.HTTP, "TILE_ORIGIN="+tiles.URL, "TILES="+mode,
				"GEOHUB_USER=alice", "GEOHUB_PASSWORD="+password,
				"SCREENSHOT="+filepath.Join(t.ArtifactDir(), "tiles-"+mode+".png"), "PROFILE_DIR="+t.TempDir())
			browser.Run(func(string, []byte) {})
			mu.Lock()
			defer mu.Unlock()
			if len(referers) == 0 {
				t.Fatal("no tile was asked for")
			}
			for _, ref := range referers {
				if ref != "http://"+hub.HTTP+"/" {
					t.Errorf("a tile asked for with referrer %q, want the hub's origin http://%s/", ref, hub.HTTP)
					break
				}
			}
			if strings.Contains(strings.Join(referers, " "), "#") {
				t.Errorf("a referrer carries a page's path: %q", referers)
			}
		})
	}
}
