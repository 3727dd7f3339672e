package dashboard

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// securityHeaders sets what every answer carries: no sniffing, no framing,
// no referrer to other sites, a content policy that runs only the hub's own
// scripts, and no caching of API answers.
func securityHeaders(csp string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("Content-Security-Policy", csp)
			if strings.HasPrefix(c.Request().URL.Path, "/api/") {
				h.Set("Cache-Control", "no-store")
			}
			return next(c)
		}
	}
}

// contentPolicy is the Content-Security-Policy of the dashboard: scripts,
// styles and connections from the hub only; images also from the map tile
// server, when there is one. Styles allow inline attributes, which the map
// library writes for markers and panes.
func contentPolicy(tileURL string) string {
	img := "'self' data: blob:"
	if u, err := url.Parse(strings.NewReplacer("{z}", "0", "{x}", "0", "{y}", "0", "{s}", "a").Replace(tileURL)); tileURL != "" && err == nil && u.Host != "" {
		host := u.Host
		if strings.HasPrefix(tileURL, u.Scheme+"://{s}.") {
			host = "*." + strings.TrimPrefix(host, "a.")
		}
		img += " " + u.Scheme + "://" + host
	}
	return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src " + img +
		"; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
}

// compress gzips answers for clients that accept it: the UI's bundles
// shrink to a third and the fleet's positions to a fifth. Level 1 costs
// the least CPU for most of the gain. The live stream is left alone (each
// event must leave at once), and so is /metrics, which compresses itself,
// and the XMPP WebSocket, whose handler takes the connection over.
func compress() echo.MiddlewareFunc {
	return middleware.GzipWithConfig(middleware.GzipConfig{
		Level:     1,
		MinLength: 1024,
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return p == "/api/stream" || p == "/metrics" || p == xmppWebSocketPath
		},
	})
}

// hashedAsset matches the bundles the UI build names by content
// (app-AVLAV7OK.js, assets/marker-icon-2V3QKKVC.png): they never change
// under their name, so browsers may keep them for good.
var hashedAsset = regexp.MustCompile(`-[A-Z0-9]{8}\.[a-z0-9.]+$`)
