package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The command line applies the password policy the HTTP API applies, with
// the same words, offline and through the running hub.
func TestDeviceCommandsRefuseAWeakPassword(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	check := func(when string, args ...string) {
		t.Helper()
		out, err := geohub(t, nil, append(args, "--data", data)...)
		if err == nil || !strings.Contains(out, "password: 8 to 1024 characters") {
			t.Errorf("%s: geohub %s: err %v, output %q; want the password policy", when, strings.Join(args, " "), err, out)
		}
	}
	check("offline", "device", "add", "car-1", "--password", "x")
	mustGeohub(t, "device", "add", "car-2", "--password", "long enough", "--data", data)
	check("offline", "device", "passwd", "car-2", "--password", "short")
	startServe(t, data)
	check("through the hub", "device", "add", "car-3", "--password", "x")
	check("through the hub", "device", "passwd", "car-2", "--password", "short")
	if out := mustGeohub(t, "device", "list", "--data", data); strings.Contains(out, "car-1") || strings.Contains(out, "car-3") {
		t.Errorf("an account with a refused password was made:\n%s", out)
	}
}
