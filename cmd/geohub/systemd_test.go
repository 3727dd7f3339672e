package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/peers"
)

// The service unit in contrib/systemd passes systemd-analyze verify without
// a word, and its hardening keeps systemd's exposure score low.
func TestSystemdUnitVerifies(t *testing.T) {
	peers.Require(t, "systemd")
	unit, err := os.ReadFile("../../contrib/systemd/geohub.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart's program exists: the one just built.
	path := filepath.Join(t.TempDir(), "geohub.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/geohub", binary)), 0o644)
	if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for geohub.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2 {
		t.Errorf("exposure %.1f, want 2 or less (systemd's \"OK\")", score)
	}
	t.Logf("systemd-analyze security: exposure %s", m[1])
}
