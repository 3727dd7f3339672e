package dashboard

import (
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

// uiHandler serves Config.UI at /: a file when the UI holds one, else
// index.html, so that the UI's own routes survive a reload. Without a UI
// it serves a page that says how to build one.
func (s *Server) uiHandler() echo.HandlerFunc {
	ui := s.cfg.UI
	if ui == nil {
		return func(c echo.Context) error {
			c.Response().Header().Set("Cache-Control", "no-store")
			return c.HTML(http.StatusOK, noUIPage)
		}
	}
	files := http.FileServerFS(ui)
	return func(c echo.Context) error {
		p := strings.TrimPrefix(path.Clean("/"+c.Param("*")), "/")
		if p == "" {
			p = "index.html"
		}
		if st, err := fs.Stat(ui, p); err != nil || st.IsDir() {
			if path.Ext(p) != "" && p != "index.html" {
				return c.String(http.StatusNotFound, "not found\n")
			}
			// An application route: the UI's page handles it.
			r := c.Request().Clone(c.Request().Context())
			r.URL.Path = "/"
			c.Response().Header().Set("Cache-Control", "no-cache")
			files.ServeHTTP(c.Response(), r)
			return nil
		}
		switch {
		case p == "index.html":
			c.Response().Header().Set("Cache-Control", "no-cache")
		case hashedAsset.MatchString(p):
			c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

const noUIPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GeoHub</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em}code{background:#eee;padding:0 .3em}</style>
</head><body>
<h1>GeoHub</h1>
<p>The hub is running, but this binary was built without the web UI.</p>
<p>Build the UI and then the binary: <code>make ui build</code>
(that is <code>npm ci &amp;&amp; npm run build</code> in <code>dashboard/web</code>, then <code>go build ./cmd/geohub</code>).</p>
<p>The API works without it: see <a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>
`
