package dashboard

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// securityHeaders sets what every answer carries: no sniffing, no framing,
// no referrer to other sites, a content policy that runs only the hub's own
// scripts, and no caching of API answers.
func securityHeaders(csp func() string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("Content-Security-Policy", csp())
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
	if origin, err := tileOrigin(tileURL); err == nil && origin != "" {
		img += " " + origin
	}
	return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src " + img +
		"; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
}

// CheckTileURL accepts an empty URL or an http(s) tile template with {z},
// {x} and {y}, and optionally {s} (a subdomain) and {r} (retina).
func CheckTileURL(template string) error {
	if template == "" {
		return nil
	}
	if _, err := tileOrigin(template); err != nil {
		return err
	}
	for _, p := range []string{"{z}", "{x}", "{y}"} {
		if !strings.Contains(template, p) {
			return fmt.Errorf("no %s in the template", p)
		}
	}
	return nil
}

// tileOrigin is the origin the tiles of a template come from, as a CSP
// source: a {s} subdomain becomes a wildcard label. Empty for no template.
func tileOrigin(template string) (string, error) {
	if template == "" {
		return "", nil
	}
	u, err := url.Parse(strings.NewReplacer("{z}", "0", "{x}", "0", "{y}", "0", "{r}", "", "{s}", "a").Replace(template))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("want an http or https URL")
	}
	host := u.Host
	if _, after, _ := strings.Cut(template, "://"); strings.Contains(strings.SplitN(after, "/", 2)[0], "{s}") {
		_, rest, ok := strings.Cut(host, ".")
		if !ok {
			return "", errors.New("{s} must be in a subdomain")
		}
		host = "*." + rest
	}
	return u.Scheme + "://" + host, nil
}

// compress gzips answers for clients that accept it: the UI's bundles
// shrink to a third and the fleet's positions to a fifth. Level 1 costs
// the least CPU for most of the gain. The live stream is left alone (each
// event must leave at once), and so is /metrics, which compresses itself,
// the XMPP WebSocket, whose handler takes the connection over, and BOSH,
// whose answers mix secrets with text others choose (BREACH).
func compress() echo.MiddlewareFunc {
	return middleware.GzipWithConfig(middleware.GzipConfig{
		Level:     1,
		MinLength: 1024,
		Skipper: func(c echo.Context) bool {
			r := c.Request()
			p := r.URL.Path
			// A range of a file must not be gzipped: its Content-Range
			// counts the uncompressed bytes.
			return p == "/api/stream" || p == "/metrics" || p == xmppWebSocketPath || p == xmppBOSHPath || r.Header.Get("Range") != ""
		},
	})
}

// hashedAsset matches the bundles the UI build names by content
// (app-AVLAV7OK.js, assets/marker-icon-2V3QKKVC.png): they never change
// under their name, so browsers may keep them for good.
var hashedAsset = regexp.MustCompile(`-[A-Z0-9]{8}\.[a-z0-9.]+$`)
