package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A database damaged in the middle: the hub and the CLI refuse it with the
// file, the place and the command that repairs it; `geohub repair` keeps
// the rest and the damaged file; then it opens.
func TestDamagedDatabaseNamesThePlaceAndRepairs(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	mustGeohub(t, "device", "add", "car-1", "--data", data)
	mustGeohub(t, "device", "add", "car-2", "--data", data)
	path := filepath.Join(data, "geohub.db")
	b, _ := os.ReadFile(path)
	i := bytes.Index(b, []byte("cred:car-1"))
	if i < 0 {
		t.Fatal("no credential record to damage")
	}
	b[i-3] = 'x' // the length line of the key: $10 becomes $x0
	os.WriteFile(path, b, 0o600)

	for _, args := range [][]string{{"device", "list", "--data", data}, {"serve", "--data", data, "--c2s", "127.0.0.1:0", "--c2s-tls", "", "--http", ""}} {
		out, err := geohub(t, nil, args...)
		if err == nil || !strings.Contains(out, path+": damaged at byte") || !strings.Contains(out, "geohub repair --data "+data) {
			t.Errorf("geohub %s on a damaged file: %v\n%s", args[0], err, out)
		}
	}
	out := mustGeohub(t, "repair", "--data", data)
	if !strings.Contains(out, "1 damaged stretches left out") || !strings.Contains(out, "the file as it was: "+path+".damaged-") {
		t.Errorf("repair: %s", out)
	}
	list := mustGeohub(t, "device", "list", "--data", data)
	if !strings.Contains(list, "car-2@localhost") {
		t.Errorf("after repair: %s", list)
	}
	if out := mustGeohub(t, "repair", "--data", data); !strings.Contains(out, "nothing to repair") {
		t.Errorf("repair again: %s", out)
	}
}
