package component_test

// GeoHub (the geohub binary, `serve --component`) as an external component
// of a private Prosody, driven by stock slixmpp clients of that Prosody.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/servetest"
)

const (
	componentDomain = "geo.localhost"
	secret          = "s3cret-for-the-test"
)

// setup is a Prosody with the users car (a device of group fleet) and op
// (an admin), and a GeoHub data folder holding the same accounts and a
// fence around the depot that notifies op.
type setup struct {
	prosody *peers.Prosody
	bin     string
	data    string
	fenceID string
	pw      map[string]string // Prosody's passwords
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	s := &setup{pw: map[string]string{"car": "car-pass-1", "op": "op-pass-1"}}
	s.prosody = peers.StartProsody(t, peers.ProsodyOptions{Users: s.pw, Components: map[string]string{componentDomain: secret}})
	s.bin = servetest.Build(t, "../..")
	s.data = filepath.Join(t.TempDir(), "data")
	servetest.AddAccount(t, s.bin, s.data, "car", "--group", "fleet")
	servetest.AddAccount(t, s.bin, s.data, "op", "--role", "admin")
	fence := filepath.Join(t.TempDir(), "depot.geojson")
	os.WriteFile(fence, []byte(`{"type":"Feature","properties":{"name":"Depot","radius":200,"groups":["fleet"],
		"events":["enter"],"notify":["op@localhost"]},"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`), 0o600)
	var added struct {
		Features []struct{ ID string }
	}
	out := servetest.Run(t, "", s.bin, "fence", "add", fence, "--data", s.data, "--format", "json")
	if err := json.Unmarshal([]byte(out), &added); err != nil || len(added.Features) != 1 {
		t.Fatalf("fence add printed %q: %v", out, err)
	}
	s.fenceID = added.Features[0].ID
	return s
}

// serve starts geohub serve as the component, its client listeners off,
// and waits until the link is up.
func (s *setup) serve(t *testing.T) *servetest.Hub {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)
	h := servetest.Start(t, s.bin, s.data, "--c2s", "", "--c2s-tls", "",
		"--component", componentDomain, "--upstream", s.prosody.ComponentAddr, "--component-secret-file", secretFile)
	if h.C2S != "" || h.C2STLS != "" {
		t.Errorf("client listeners %q %q open in component mode", h.C2S, h.C2STLS)
	}
	waitReady(t, h, true)
	return h
}

// readyz returns /readyz's status and body.
func readyz(t *testing.T, h *servetest.Hub) (int, string) {
	res, err := http.Get("http://" + h.HTTP + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitReady polls /readyz until it says ready (or not), for 30 s.
func waitReady(t *testing.T, h *servetest.Hub, ready bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := readyz(t, h)
		if (code == http.StatusOK) == ready {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %q after 30s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type line map[string]any

func (l line) str(k string) string { s, _ := l[k].(string); return s }

func (l line) obj(k string) line { m, _ := l[k].(map[string]any); return m }

// runScript runs testdata/script with the slixmpp helpers of hub's tests,
// against Prosody, and returns its JSON lines.
func runScript(t *testing.T, p *peers.Prosody, script string, args ...string) []line {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	host, port, _ := strings.Cut(p.Addr, ":")
	argv := append([]string{filepath.Join("testdata", script), "--host", host, "--port", port, "--cafile", p.CertFile}, args...)
	cmd := exec.CommandContext(ctx, peers.Python, argv...)
	helpers, _ := filepath.Abs(filepath.Join("..", "..", "hub", "testdata", "slixmpp"))
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONPATH="+helpers)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s\nprosody log:\n%s", script, err, stdout.String(), stderr.String(), p.Log())
	}
	t.Logf("%s printed:\n%s", script, stdout.String())
	var out []line
	for _, raw := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("%s printed %q, not JSON", script, raw)
		}
		out = append(out, l)
	}
	return out
}

func find(lines []line, event string) []line {
	var got []line
	for _, l := range lines {
		if l.str("event") == event {
			got = append(got, l)
		}
	}
	return got
}

func TestProsodySlixmppDeviceAndOperator(t *testing.T) {
	peers.Require(t, "slixmpp")
	s := newSetup(t)
	s.serve(t)
	out := runScript(t, s.prosody, "component_alerts.py", "--user", "car", s.pw["car"], "--user", "op", s.pw["op"],
		"--service", componentDomain, "--fence", s.fenceID)

	for _, sub := range find(out, "subscribe") {
		if sub.str("outcome") != "result" || sub.str("subscription") != "subscribed" || sub.str("jid") != "op@localhost" {
			t.Errorf("operator subscribes: %v", sub)
		}
	}
	if p := find(out, "probe"); len(p) != 1 || p[0].str("condition") != "not-allowed" || p[0].str("app") != "closed-node" {
		t.Errorf("device subscribing to the alerts: %v, want not-allowed (closed-node)", p)
	}
	pubs := find(out, "publish")
	if len(pubs) != 2 {
		t.Fatalf("publishes: %v", pubs)
	}
	for _, p := range pubs {
		if p.str("outcome") != "result" || p.str("from") != componentDomain {
			t.Errorf("publish answered %v, want a result from %s", p, componentDomain)
		}
	}
	msgs := find(out, "alert_message")
	if len(msgs) != 1 {
		t.Fatalf("alert messages: %v", msgs)
	}
	m := msgs[0]
	if m.str("from") != componentDomain || !strings.HasPrefix(m.str("to"), "op@localhost") || m.str("type") != "chat" ||
		!strings.Contains(m.str("body"), "car") || !strings.Contains(m.str("body"), "Depot") {
		t.Errorf("alert message %v", m)
	}
	if a := m.obj("alert"); a.str("fence") != s.fenceID || a.str("device") != "car@localhost" || a.str("event") != "enter" {
		t.Errorf("alert element %v", a)
	}
	nodes := map[string]bool{}
	for _, it := range find(out, "alert_item") {
		if it.str("from") != componentDomain || it.obj("alert").str("device") != "car@localhost" {
			t.Errorf("alert item %v", it)
		}
		nodes[it.str("node")] = true
	}
	if !nodes["alerts"] || !nodes["alerts/"+s.fenceID] {
		t.Errorf("alert items on %v, want alerts and alerts/%s", nodes, s.fenceID)
	}
	cmd := find(out, "command")
	if len(cmd) != 1 || cmd[0].str("from") != componentDomain || !strings.Contains(cmd[0].str("body"), "geo:52.5101,13.4001") {
		t.Errorf("where command answered %v", cmd)
	}
	// The fix is in the same geo store as a standalone hub's.
	if where := servetest.Run(t, "", s.bin, "where", "car", "--data", s.data); !strings.Contains(where, "52.510100") {
		t.Errorf("geohub where car: %q", where)
	}
}
