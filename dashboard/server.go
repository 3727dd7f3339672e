// Package dashboard is GeoHub's HTTP side, served with echo. For now it
// answers the health checks that scripts and orchestrators poll; the API and
// the web map build on it.
package dashboard

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Config is what the HTTP server needs.
type Config struct {
	Addr   string
	Ready  func() error // nil error when the hub accepts work
	Logger *slog.Logger
}

// Server is a running HTTP server.
type Server struct {
	e   *echo.Echo
	ln  net.Listener
	log *slog.Logger
}

// Start listens on cfg.Addr and serves in the background.
func Start(cfg Config) (*Server, error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", func(c echo.Context) error {
		if err := cfg.Ready(); err != nil {
			return c.String(http.StatusServiceUnavailable, err.Error()+"\n")
		}
		return c.String(http.StatusOK, "ready\n")
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{e: e, ln: ln, log: cfg.Logger}
	e.Server.ReadHeaderTimeout = 10 * time.Second
	go func() {
		if err := e.Server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	}()
	s.log.Info("listening", "addr", ln.Addr().String(), "service", "http")
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close shuts the server down, waiting briefly for requests in flight.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.e.Server.Shutdown(ctx)
}
