// Package hubtest starts a real hub, with the geo application (package
// tracking) wired to it, for tests, the way httptest starts an
// HTTP server: on loopback ports chosen by the kernel, with its own data
// folder and a self-signed certificate, stopped when the test ends.
package hubtest

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/tlscert"
	"github.com/geohub/geohub/internal/xmpptest"
	"github.com/geohub/geohub/tracking"
	"github.com/tidwall/buntdb"
)

// Hub is a running test hub.
type Hub struct {
	*hub.Server
	Accounts *devices.Store
	Geo      *geoloc.Store
	App      *tracking.App // the geo application, wired as geohub serve wires it
	DB       *buntdb.DB
	Dir      string
	Addr     string // STARTTLS listener
	TLSAddr  string // direct TLS listener
	// ClientTLS trusts the hub's certificate, for clients written in Go.
	ClientTLS *tls.Config
	CertFile  string // the certificate, for clients in other languages

	stop func()
}

// Start runs a hub until the test ends. configure may change the
// configuration before it starts.
func Start(t testing.TB, configure ...func(*hub.Config)) *Hub {
	t.Helper()
	dir := t.TempDir()
	h, err := start(dir, configure...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	return h
}

// Restart stops h and starts a new hub on the same data folder, as a restart
// of the process would.
func Restart(t testing.TB, h *Hub, configure ...func(*hub.Config)) *Hub {
	t.Helper()
	h.Stop()
	h2, err := start(h.Dir, configure...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h2.Stop)
	return h2
}

func start(dir string, configure ...func(*hub.Config)) (*Hub, error) {
	d, err := store.Lock(dir)
	if err != nil {
		return nil, err
	}
	db, err := d.Open()
	if err != nil {
		return nil, err
	}
	cert, err := tlscert.Load(dir, []string{"localhost"}, "", "")
	if err != nil {
		return nil, err
	}
	logLevel := slog.LevelWarn
	if os.Getenv("GEOHUB_TEST_LOG") != "" {
		logLevel = slog.LevelDebug
	}
	commit := store.NewCommitter(db)
	geo, err := geoloc.OpenStore(db, geoloc.Options{Commit: commit})
	if err != nil {
		return nil, err
	}
	cfg := hub.Config{
		Domain: "localhost", C2S: "127.0.0.1:0", C2STLS: "127.0.0.1:0", Commit: commit,
		TLS:    tlscert.ServerConfig(cert),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})),
	}
	for _, f := range configure {
		f(&cfg)
	}
	// configure may give the hub another domain (federation tests).
	accounts, err := devices.Open(db, devices.Options{Domain: cfg.Domain})
	if err != nil {
		return nil, err
	}
	s, err := hub.New(cfg, db, accounts)
	if err != nil {
		return nil, err
	}
	app := tracking.New(tracking.Config{Hub: s, Accounts: accounts, Geo: geo, Logger: cfg.Logger})
	if err := s.Start(); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	pool.AddCert(leaf)
	addr, tlsAddr := s.Addrs()
	h := &Hub{
		Server: s, Accounts: accounts, Geo: geo, App: app, DB: db, Dir: dir, Addr: addr, TLSAddr: tlsAddr,
		ClientTLS: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12},
		CertFile:  d.File(tlscert.CertFile),
	}
	h.stop = func() {
		s.Close()
		app.Close()
		commit.Close()
		app.Drain()
		s.Drain()
		accounts.Close()
		db.Close()
		d.Unlock()
	}
	return h, nil
}

// Stop shuts the hub down; it is safe to call more than once.
func (h *Hub) Stop() {
	if h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

// Account creates an account and returns its password.
func (h *Hub) Account(t testing.TB, name string, role devices.Role, groups ...string) string {
	t.Helper()
	c, err := h.Accounts.Add(devices.NewAccount{Name: name, Role: role, Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	return c[0].Password
}

// Options returns client options for the STARTTLS listener.
func (h *Hub) Options() xmpptest.Options {
	return xmpptest.Options{Addr: h.Addr, TLS: h.ClientTLS}
}

// Login creates an account and logs a client into it.
func (h *Hub) Login(t testing.TB, name string, role devices.Role, groups ...string) *xmpptest.Client {
	t.Helper()
	pw := h.Account(t, name, role, groups...)
	return xmpptest.Dial(t, h.Options(), name, pw)
}
