package dashboard

import (
	"embed"
	"io/fs"
)

// The web UI, built by `make ui` (npm ci and npm run build in dashboard/web)
// into web/dist before the Go build embeds it. A plain `go build` without
// that step still compiles: web/dist then holds only .gitkeep.
//
//go:embed all:web/dist
var webDist embed.FS

// UI returns the built web UI (index.html and the bundles it names), to
// serve at / as Config.UI; nil when this binary was built without it, in
// which case the server shows a page that says how to build it.
func UI() fs.FS {
	if !UIBuilt() {
		return nil
	}
	dist, err := fs.Sub(webDist, "web/dist")
	if err != nil {
		panic(err) // a constant, valid path
	}
	return dist
}

// UIBuilt says whether the web UI was built before this binary was.
func UIBuilt() bool {
	_, err := fs.Stat(webDist, "web/dist/index.html")
	return err == nil
}
