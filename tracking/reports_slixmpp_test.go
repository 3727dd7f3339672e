package tracking_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
)

// A slixmpp operator (testdata/slixmpp/trips.py, a stock Python client)
// asks the hub's JID for a device's trips and stops over chat and gets
// the day's trip with its distance and geo: links.
func TestSlixmppOperatorAsksForTrips(t *testing.T) {
	peers.Require(t, "slixmpp")
	h := hubtest.Start(t)
	car := xmpptestDial(t, h, "car", h.Account(t, "car", devices.RoleDevice, "fleet"))
	opPW := h.Account(t, "op", devices.RoleOperator, "fleet")
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	date := day.Format(time.DateOnly)
	morning(t, car, day, 52.0, 13.0)

	answers := runSlixmppScript(t, h, "trips.py", "--user", "op", opPW, "--hub", "geohub@localhost",
		"--ask", "trips car yesterday", "--ask", "stops car "+date)
	if len(answers) != 2 {
		t.Fatalf("answers: %v", answers)
	}
	for _, a := range answers {
		if !strings.HasPrefix(a["from"], "geohub@localhost") || a["type"] != "chat" {
			t.Errorf("answer from %q, type %q", a["from"], a["type"])
		}
	}
	wantLines(t, answers[0]["body"], "car, "+date+" (UTC): 1 trip, 3.3 km, 5 min driving, max 40 km/h",
		"08:05–08:10 3.3 km, 5 min, max 40 km/h: geo:52,13 → geo:52.03,13")
	wantLines(t, answers[1]["body"], "2 stops, 10 min standing", "08:00–08:05 (5 min) at geo:52,13")
}

// runSlixmppScript runs a script of testdata/slixmpp against h and returns
// its answer lines; it fails the test unless the script exits 0 printing
// only JSON lines.
func runSlixmppScript(t *testing.T, h *hubtest.Hub, script string, args ...string) []map[string]string {
	t.Helper()
	host, port, err := net.SplitHostPort(h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append([]string{filepath.Join("testdata", "slixmpp", script), "--host", host, "--port", port, "--cafile", h.CertFile}, args...)
	cmd := exec.CommandContext(ctx, peers.Python, argv...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	var answers []map[string]string
	for _, raw := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("%s printed %q, not JSON: %v", script, raw, err)
		}
		if l["event"] != "answer" {
			continue
		}
		a := map[string]string{}
		for k, v := range l {
			a[k], _ = v.(string)
		}
		answers = append(answers, a)
	}
	t.Logf("%s printed:\n%s", script, stdout.String())
	return answers
}
