package dashboard_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/dashboard"
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/operations"
	"github.com/tidwall/buntdb"
)

// env is a dashboard over a real account store, geo engine and database,
// served by httptest on a loopback port. Fixes go in through geoloc and
// the group committer, as the hub puts them.
//
// Accounts (password "pw-<name>"):
//
//	root   admin     group ops
//	alice  operator  group north
//	bob    operator  group south
//	car1   device    group north
//	car2   device    group south
//	van    device    groups north, south
type env struct {
	t        testing.TB
	db       *buntdb.DB
	accounts *devices.Store
	geo      *geoloc.Store
	commit   *store.Committer
	tokens   *operations.Tokens
	srv      *dashboard.Server
	ts       *httptest.Server
	cfg      dashboard.Config
}

// envIterations is the PBKDF2 count of the env's accounts; benchmarks that
// make thousands lower it.
var envIterations = 4096

func newEnv(t testing.TB, configure ...func(*dashboard.Config)) *env {
	t.Helper()
	db, err := buntdb.Open(filepath.Join(t.TempDir(), "geohub.db"))
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := devices.Open(db, devices.Options{Domain: "localhost", Iterations: envIterations})
	if err != nil {
		t.Fatal(err)
	}
	commit := store.NewCommitter(db)
	geo, err := geoloc.OpenStore(db, geoloc.Options{Commit: commit})
	if err != nil {
		t.Fatal(err)
	}
	geo.SetDirectory(accounts)
	tokens, err := operations.OpenTokens(db, accounts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, accounts: accounts, geo: geo, commit: commit, tokens: tokens}
	for _, a := range []struct {
		name   string
		role   devices.Role
		groups []string
	}{
		{"root", devices.RoleAdmin, []string{"ops"}},
		{"alice", devices.RoleOperator, []string{"north"}},
		{"bob", devices.RoleOperator, []string{"south"}},
		{"car1", devices.RoleDevice, []string{"north"}},
		{"car2", devices.RoleDevice, []string{"south"}},
		{"van", devices.RoleDevice, []string{"north", "south"}},
	} {
		if _, err := accounts.Add(devices.NewAccount{Name: a.name, Role: a.role, Groups: a.groups, Password: "pw-" + a.name}); err != nil {
			t.Fatal(err)
		}
	}
	level := slog.LevelWarn
	if os.Getenv("GEOHUB_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	cfg := dashboard.Config{
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Accounts: accounts, Geo: geo, Tokens: tokens, DB: db, Commit: commit,
		TileURL: "https://tiles.example/{z}/{x}/{y}.png", TileAttribution: "© example",
		StreamInterval: 50 * time.Millisecond,
		LoginBurst:     1000, // tests log in often; TestLoginAttemptsAreLimitedPerAddress sets its own
	}
	for _, f := range configure {
		f(&cfg)
	}
	e.cfg = cfg
	e.serve()
	t.Cleanup(func() {
		e.srv.Close()
		e.ts.Close()
		commit.Close()
		accounts.Close()
		db.Close()
	})
	return e
}

// serve starts a dashboard server on the env's stores.
func (e *env) serve() {
	e.t.Helper()
	srv, err := dashboard.New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
	e.ts = httptest.NewServer(srv.Handler())
}

// restart replaces the server by a new one on the same database, as a
// restart of the hub does; the address changes.
func (e *env) restart() {
	e.t.Helper()
	e.srv.Close()
	e.ts.Close()
	e.serve()
}

func jid(name string) string { return name + "@localhost" }

// fix stores a position of the device called name and waits until it is
// durable.
func (e *env) fix(name string, lat, lon float64, at time.Time, extra ...func(*geoloc.Position)) {
	e.t.Helper()
	p := geoloc.Position{Device: jid(name), Lat: lat, Lon: lon, Time: at, Received: time.Now(), Source: "test"}
	for _, f := range extra {
		f(&p)
	}
	w, then, err := e.geo.Stage(p)
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	e.commit.Submit(w, func(err error) { then(err); done <- err })
	if err := <-done; err != nil {
		e.t.Fatal(err)
	}
}

// reading stores sensor readings of a device.
func (e *env) reading(name string, rs ...geoloc.Reading) {
	e.t.Helper()
	w, then, err := e.geo.StageReadings(jid(name), rs, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	e.commit.Submit(w, func(err error) { then(err); done <- err })
	if err := <-done; err != nil {
		e.t.Fatal(err)
	}
}

// client calls the API as a browser (a session cookie and its CSRF token)
// or a script (a bearer token), or anonymously.
type client struct {
	e       *env
	cookie  string
	csrf    string
	bearer  string
	noCSRF  bool   // leave the CSRF header out
	host    string // Host header, when not the server's
	headers map[string]string
}

// resp is an answer.
type resp struct {
	code   int
	body   []byte
	header http.Header
}

func (r resp) String() string { return http.StatusText(r.code) + ": " + string(r.body) }

// json decodes the body into v or fails the test.
func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r, err)
	}
}

// errorMessage is the error JSON's message, checking that it is one.
func (r resp) errorMessage(t testing.TB) string {
	t.Helper()
	var b struct{ Error string }
	if err := json.Unmarshal(r.body, &b); err != nil || b.Error == "" {
		t.Fatalf("not an error JSON: %s", r)
	}
	return b.Error
}

func (e *env) anon() *client { return &client{e: e} }

// login logs in as name or fails the test.
func (e *env) login(name string) *client {
	e.t.Helper()
	c := e.anon()
	r := c.do("POST", "/api/login", map[string]string{"username": name, "password": "pw-" + name})
	if r.code != http.StatusOK {
		e.t.Fatalf("login as %s: %s", name, r)
	}
	var out struct {
		CSRF string `json:"csrf"`
	}
	r.json(e.t, &out)
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == "geohub_session" {
			c.cookie = ck.Value
		}
	}
	if c.cookie == "" || out.CSRF == "" {
		e.t.Fatalf("login as %s: no cookie or csrf: %s %v", name, r, r.header)
	}
	c.csrf = out.CSRF
	return c
}

// token makes an API token for name and a client that uses it.
func (e *env) token(name string) *client {
	e.t.Helper()
	_, secret, err := e.tokens.Add("test", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return &client{e: e, bearer: secret}
}

func (c *client) do(method, path string, body any) resp {
	c.e.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, c.e.ts.URL+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "geohub_session", Value: c.cookie})
		if !c.noCSRF && method != "GET" {
			req.Header.Set("X-CSRF-Token", c.csrf)
		}
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.host != "" {
		req.Host = c.host
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return resp{code: res.StatusCode, body: b, header: res.Header}
}

// must is do that fails the test unless the answer has the status want.
func (c *client) must(want int, method, path string, body any) resp {
	c.e.t.Helper()
	r := c.do(method, path, body)
	if r.code != want {
		c.e.t.Fatalf("%s %s: got %s, want %d", method, path, r, want)
	}
	return r
}

// status checks only the status of an answer.
func (c *client) status(t testing.TB, want int, method, path string, body any) resp {
	t.Helper()
	r := c.do(method, path, body)
	if r.code != want {
		t.Errorf("%s %s: got %s, want %d", method, path, r, want)
	}
	return r
}

// featureCollection is the part of GeoJSON the tests read.
type featureCollection struct {
	Type     string       `json:"type"`
	Features []geoFeature `json:"features"`
}

type geoFeature struct {
	Type     string         `json:"type"`
	ID       any            `json:"id"`
	Geometry map[string]any `json:"geometry"`
	Props    map[string]any `json:"properties"`
}

// sortByID orders the features by their ID, for answers in no set order.
func (fc featureCollection) sortByID() {
	slices.SortFunc(fc.Features, func(a, b geoFeature) int { return strings.Compare(fmt.Sprint(a.ID), fmt.Sprint(b.ID)) })
}

func (fc featureCollection) ids() []string {
	var out []string
	for _, f := range fc.Features {
		out = append(out, f.ID.(string))
	}
	return out
}
