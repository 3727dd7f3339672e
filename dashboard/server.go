// Package dashboard is GeoHub's HTTP side, served with echo: the REST and
// GeoJSON API under /api, its live stream (Server-Sent Events), login
// sessions and API tokens, the OpenAPI description, health checks,
// Prometheus metrics, and the embedded web UI at /.
package dashboard

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/operations"
	"github.com/geohub/geohub/tracking"
	"github.com/labstack/echo/v4"
	"github.com/tidwall/buntdb"
)

// Config is what the HTTP server needs. Addr, Ready and Logger are enough
// for the health checks; the API needs Accounts, Geo, Tokens and DB too.
type Config struct {
	Addr   string
	Ready  func() error // nil error when the hub accepts work
	Logger *slog.Logger
	// TLS, when set, makes the server speak HTTPS only.
	TLS *tls.Config

	Accounts devices.Accounts
	Geo      *geoloc.Store
	Tokens   *operations.Tokens
	DB       *buntdb.DB // where the logins are kept

	// For /metrics; each may be nil.
	Commit *store.Committer // ingest batch latency
	Hub    HubStats         // sessions, stanzas
	Alerts AlertStats       // alerts delivered and dropped
	Bridge Bridge           // the MQTT bridge's state (also GET /api/bridge); nil: disabled
	// Fleet, in a sharded deployment, answers for the other instances:
	// positions, nearby, within, who was in an area and the live stream
	// are then the whole fleet's (fleet.go). Nil: this instance is all.
	Fleet tracking.Fleet
	// MetricsToken makes /metrics ask for an API token (Authorization:
	// Bearer, as Prometheus sends it); without it /metrics is open.
	MetricsToken bool

	// UI is the built web UI, served at / with index.html for paths it
	// does not hold; nil serves a page that says how to build it.
	UI fs.FS
	// TileURL ({z}/{x}/{y} template) and TileAttribution are the map
	// tiles the UI loads when set; without them it shows its offline
	// world map only.
	TileURL, TileAttribution string

	// CookieSecure says when the session cookie is marked Secure; see
	// CookiePolicy.
	CookieSecure CookiePolicy
	// SessionTTL is how long a login lasts; 0 means 12 hours.
	SessionTTL time.Duration
	// LoginBurst login attempts are allowed per client address, one more
	// every LoginEvery; 0 means 10 and 6 s.
	LoginBurst int
	LoginEvery time.Duration
	// StreamInterval is the shortest time between two updates a stream
	// client gets; 0 means 250 ms.
	StreamInterval time.Duration

	// XMPPWebSocket, when set, serves XMPP over WebSocket (RFC 7395) at
	// /xmpp-websocket, announced by /.well-known/host-meta(.json)
	// (XEP-0156).
	XMPPWebSocket http.Handler
	// XMPPBOSH, when set, serves XMPP over BOSH (XEP-0124, XEP-0206) at
	// /http-bind, announced there too.
	XMPPBOSH http.Handler

	// TrustedProxies are the reverse proxies in front of the hub: from
	// them, X-Forwarded-For names the client, whose address then counts
	// for the login limit and the WebSocket rules. Empty: the connection's
	// address counts, whatever the headers say.
	TrustedProxies []netip.Prefix

	// PublicURL is where clients reach the HTTP listener, such as
	// https://hub.example.org (ParsePublicURL); host-meta names the XMPP
	// endpoints under it. Empty: through a trusted proxy, the Host it
	// forwards; otherwise the address the connection reached.
	PublicURL string
}

// CookiePolicy says when the session cookie carries the Secure attribute,
// which tells the browser to send it over HTTPS only.
type CookiePolicy string

// Cookie policies.
const (
	// CookieAuto marks the cookie Secure when the request came over TLS,
	// through a proxy that says it did (X-Forwarded-Proto: https), or to
	// a loopback host (browsers treat http://localhost as secure). A
	// login over plain HTTP to any other host is refused: the password
	// and the cookie would cross the network readable.
	CookieAuto CookiePolicy = "auto"
	// CookieAlways always marks it Secure: behind a TLS proxy that does
	// not set X-Forwarded-Proto.
	CookieAlways CookiePolicy = "always"
	// CookieNever never does, and allows logins over plain HTTP: for a
	// closed lab network only.
	CookieNever CookiePolicy = "never"
)

// ParseCookiePolicy checks a policy name; empty means auto.
func ParseCookiePolicy(s string) (CookiePolicy, error) {
	switch p := CookiePolicy(strings.ToLower(s)); p {
	case "":
		return CookieAuto, nil
	case CookieAuto, CookieAlways, CookieNever:
		return p, nil
	}
	return "", fmt.Errorf("cookie policy %q: want auto, always or never", s)
}

// Server is the HTTP server.
type Server struct {
	cfg      Config
	e        *echo.Echo
	ln       net.Listener
	log      *slog.Logger
	sessions *sessions
	limiter  *loginLimiter
	stream   *broker
	metrics  *metrics
	ops      *operations.Service
	tiles    atomic.Pointer[mapTiles]
}

// New builds the server without listening: Handler serves it, for tests
// and for callers with their own listener.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Ready == nil {
		cfg.Ready = func() error { return nil }
	}
	var err error
	if cfg.CookieSecure, err = ParseCookiePolicy(string(cfg.CookieSecure)); err != nil {
		return nil, err
	}
	if _, err := ParsePublicURL(cfg.PublicURL); err != nil {
		return nil, fmt.Errorf("dashboard: public URL %q: %w", cfg.PublicURL, err)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.LoginBurst <= 0 {
		cfg.LoginBurst = 10
	}
	if cfg.LoginEvery <= 0 {
		cfg.LoginEvery = 6 * time.Second
	}
	if cfg.StreamInterval <= 0 {
		cfg.StreamInterval = 250 * time.Millisecond
	}
	api := cfg.Accounts != nil && cfg.Geo != nil
	if api && (cfg.Tokens == nil || cfg.DB == nil) {
		return nil, errors.New("dashboard: the API needs a token store and the database")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, ops: &operations.Service{Accounts: cfg.Accounts, Geo: cfg.Geo, Tokens: cfg.Tokens}}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// The client's address is the connection's, unless that is a trusted
	// proxy: X-Forwarded-For is anyone's to write, and the login limit
	// counts per address.
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	e.HTTPErrorHandler = s.errorHandler
	s.tiles.Store(newMapTiles(cfg.TileURL, cfg.TileAttribution))
	e.Use(s.recover, securityHeaders(func() string { return s.mapNow().csp }), compress())
	s.e = e
	s.metrics = newMetrics(cfg)

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", func(c echo.Context) error {
		if err := cfg.Ready(); err != nil {
			return c.String(http.StatusServiceUnavailable, err.Error()+"\n")
		}
		return c.String(http.StatusOK, "ready\n")
	})
	e.GET("/metrics", echo.WrapHandler(s.metrics.handler()), s.metricsAccess)
	e.GET("/api/openapi.json", serveOpenAPI)
	if cfg.XMPPWebSocket != nil {
		e.GET(xmppWebSocketPath, s.toHub(cfg.XMPPWebSocket))
	}
	if cfg.XMPPBOSH != nil {
		// Every method: the handler explains itself to a GET.
		e.Any(xmppBOSHPath, s.toHub(cfg.XMPPBOSH))
	}
	if cfg.XMPPWebSocket != nil || cfg.XMPPBOSH != nil {
		e.GET("/.well-known/host-meta", s.hostMeta)
		e.GET("/.well-known/host-meta.json", s.hostMetaJSON)
	}
	if api {
		if s.sessions, err = openSessions(cfg.DB, cfg.SessionTTL, s.log); err != nil {
			return nil, fmt.Errorf("dashboard: reading logins: %w", err)
		}
		s.limiter = newLoginLimiter(cfg.LoginBurst, cfg.LoginEvery)
		s.stream = newBroker(s)
		cfg.Accounts.WatchPasswords(s.passwordChanged)
		cfg.Accounts.Watch(s.accountChanged)
		s.routes()
	}
	// What /api does not know is a JSON 404 (or 405), not the UI's page.
	e.Any("/api/*", s.noRoute)
	ui := s.uiHandler()
	e.GET("/*", ui)
	e.HEAD("/*", ui)
	return s, nil
}

// Start listens on cfg.Addr and serves in the background.
func Start(cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		s.stop()
		return nil, err
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	s.ln = ln
	s.e.Server.ReadHeaderTimeout = 10 * time.Second
	s.e.Server.IdleTimeout = 2 * time.Minute
	s.e.Server.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	go func() {
		if err := s.e.Server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	}()
	s.log.Info("listening", "addr", ln.Addr().String(), "service", "http", "tls", cfg.TLS != nil)
	return s, nil
}

// Handler serves the dashboard.
func (s *Server) Handler() http.Handler { return s.e }

// Close ends the live streams, then shuts the server down, waiting briefly
// for requests in flight.
func (s *Server) Close() error {
	s.stop()
	if s.ln == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.e.Server.Shutdown(ctx)
}

func (s *Server) stop() {
	if s.stream != nil {
		s.stream.close()
	}
}

// routes registers the API. Each route says who may call it: public
// routes need nothing, the others a session cookie or a bearer token
// (authn), and admin routes an admin account.
func (s *Server) routes() {
	e, user, admin := s.e, s.authn, s.adminOnly
	e.POST("/api/login", s.login)
	e.POST("/api/logout", s.logout, user)
	e.GET("/api/me", s.me, user)
	e.GET("/api/config", s.config)

	e.GET("/api/devices", s.listDevices, user)
	e.POST("/api/devices", s.createDevice, user, admin)
	e.GET("/api/devices/:name", s.getDevice, user)
	e.PATCH("/api/devices/:name", s.updateDevice, user, admin)
	e.DELETE("/api/devices/:name", s.deleteDevice, user, admin)
	e.POST("/api/devices/:name/password", s.resetPassword, user, admin)
	e.GET("/api/devices/:name/trail", s.trail, user)
	e.GET("/api/devices/:name/telemetry", s.telemetry, user)

	e.GET("/api/positions", s.positions, user)
	e.GET("/api/nearby", s.nearby, user)
	e.GET("/api/within", s.within, user)
	e.POST("/api/within", s.withinShape, user)

	e.GET("/api/fences", s.listFences, user)
	e.POST("/api/fences", s.createFences, user)
	e.GET("/api/fences/:id", s.getFence, user)
	e.PUT("/api/fences/:id", s.replaceFence, user)
	e.DELETE("/api/fences/:id", s.deleteFence, user)

	e.GET("/api/alerts", s.listAlerts, user)
	e.POST("/api/alerts/:id/ack", s.ackAlert, user)

	e.GET("/api/tokens", s.listTokens, user, admin)
	e.POST("/api/tokens", s.createToken, user, admin)
	e.DELETE("/api/tokens/:id", s.revokeToken, user, admin)

	e.GET("/api/stream", s.streamHandler, user)

	e.GET("/api/bridge", s.bridge, user)

	s.reportRoutes(user)
}

// bridge answers the MQTT bridge's state: the dashboard's header shows it.
func (s *Server) bridge(c echo.Context) error {
	return c.JSON(http.StatusOK, s.bridgeStatus())
}

// noRoute answers a path under /api that no route takes with that method:
// 405 naming the methods that path has, or 404.
func (s *Server) noRoute(c echo.Context) error {
	r := c.Request()
	probe := s.e.NewContext(r, nil)
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		s.e.Router().Find(m, r.URL.Path, probe)
		if p := probe.Path(); p != "" && p != "/api/*" && p != "/*" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		c.Response().Header().Set("Allow", strings.Join(allowed, ", "))
		return apiError(http.StatusMethodNotAllowed, "%s is not allowed on %s (only %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))
	}
	return apiError(http.StatusNotFound, "no such API route: %s %s", r.Method, r.URL.Path)
}

// errorBody is every error's JSON.
type errorBody struct {
	Error string `json:"error"`
}

// apiError is an error answer: its message names the problem.
func apiError(code int, format string, args ...any) error {
	return echo.NewHTTPError(code, fmt.Sprintf(format, args...))
}

func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		switch m := he.Message.(type) {
		case string:
			msg = m
		case error:
			msg = m.Error()
		default:
			msg = strings.ToLower(http.StatusText(code))
		}
	} else if errors.Is(err, store.ErrUnwritable) {
		code, msg = http.StatusInsufficientStorage, store.ErrUnwritable.Error()
	} else {
		s.log.Error("http handler", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(code)
		return
	}
	c.JSON(code, errorBody{msg})
}

// recover turns a panic in a handler into a 500, logged.
func (s *Server) recover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("http handler panicked", "path", c.Request().URL.Path, "panic", r)
				err = apiError(http.StatusInternalServerError, "internal error")
			}
		}()
		return next(c)
	}
}
