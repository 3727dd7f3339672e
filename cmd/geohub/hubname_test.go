package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestHubNameFlagIsCheckedAndReserved(t *testing.T) {
	if out, err := geohub(t, nil, "serve", "--check-config", "--hub-name", "bad@name"); err == nil || !strings.Contains(out, "--hub-name") {
		t.Errorf("an invalid --hub-name: %v %q", err, out)
	}
	data := filepath.Join(t.TempDir(), "data")
	// A new folder has no accounts to collide with.
	if out := mustGeohub(t, "serve", "--check-config", "--data", data, "--hub-name", "bot"); !strings.Contains(out, "ok") {
		t.Errorf("check of a new folder: %q", out)
	}
	mustGeohub(t, "device", "add", "bot", "--data", data)
	if out, err := geohub(t, nil, "device", "add", "geohub", "--role", "operator", "--data", data); err == nil || !strings.Contains(out, "reserved") {
		t.Errorf("device add geohub: %v %q", err, out)
	}
	out, err := geohub(t, []string{"GEOHUB_HUB_NAME=Bot"}, "serve", "--check-config", "--data", data)
	if err == nil || !strings.Contains(out, "--hub-name") || !strings.Contains(out, "bot@localhost") {
		t.Errorf("check with an account's name: %v %q", err, out)
	}

	// A running hub reserves its name; the check then asks it.
	hub := startServe(t, data, "--hub-name", "tracker")
	if out, err := geohub(t, nil, "device", "add", "tracker", "--data", data); err == nil || !strings.Contains(out, "reserved") {
		t.Errorf("device add tracker while the hub runs: %v %q", err, out)
	}
	if out, err := geohub(t, nil, "serve", "--check-config", "--data", data, "--hub-name", "bot"); err == nil || !strings.Contains(out, "bot@localhost") {
		t.Errorf("check through the running hub: %v %q", err, out)
	}
	mustGeohub(t, "device", "add", "geohub", "--data", data) // the default is free under another name
	if err := hub.Stop(); err != nil {
		t.Fatal(err)
	}
	// The folder remembers the name.
	if out, err := geohub(t, nil, "device", "add", "tracker", "--data", data); err == nil || !strings.Contains(out, "reserved") {
		t.Errorf("device add tracker after the hub stopped: %v %q", err, out)
	}
}
